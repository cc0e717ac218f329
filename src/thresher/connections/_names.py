"""What a connection may be called: the rule every way of creating one applies (the status API's
``POST /api/v1/connections``; docs/serve.md).

``env`` names the ``HARVEST_*`` variables (``ENV_CONNECTION``): a saved connection of that name
would be shadowed by, or shadow, the environment, so it is refused rather than resolved oddly.
"""

from __future__ import annotations

import re

from ._errors import ConnectionNameError
from ._resolve import ENV_CONNECTION

__all__ = ["RESERVED_NAMES", "check_connection_name"]

#: Names that mean something other than a saved connection.
RESERVED_NAMES = frozenset({ENV_CONNECTION})
# Letters, digits, dots, dashes and underscores: safe in URLs, file names and log lines.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_connection_name(name: str) -> str:
    """``name`` if a new connection may have it; ``ConnectionNameError`` saying why not."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConnectionNameError(
            f"{name!r} is not a valid connection name",
            hint="Use 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit.",
        )
    if name.lower() in RESERVED_NAMES:
        raise ConnectionNameError(
            f"{name!r} is reserved", hint=f"{name!r} means the HARVEST_* variables; pick another name."
        )
    return name
