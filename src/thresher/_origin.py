"""Which front end a write came through (the CLI, the SCIM bridge, or a program using the API).

The store records writes with source ``write`` whoever made them; webhook payloads say more
(``source``: ``sync``, ``cli``, ``scim`` or ``api``, docs/webhooks.md). Each front end sets its
origin once where requests enter it; a context variable carries it down to the store's outbox
without threading a parameter through every write method. Kept free of imports so the CLI can
set it at start-up without loading the store.
"""

from __future__ import annotations

import contextvars
from typing import Literal

__all__ = ["Origin", "current_origin", "set_origin"]

Origin = Literal["cli", "scim", "api"]

_ORIGIN: contextvars.ContextVar[Origin] = contextvars.ContextVar("thresher_origin", default="api")


def set_origin(origin: Origin) -> None:
    """Mark writes made from here on, in this context, as coming through ``origin``."""
    _ORIGIN.set(origin)


def current_origin() -> Origin:
    return _ORIGIN.get()
