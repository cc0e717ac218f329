"""What the API sections and the identity service know of a sandbox: the ``SandboxHost`` protocol,
and the values a sandbox hands out (``SandboxCredentials``, ``SandboxSnapshot``).

Handlers reach the sandbox only through this protocol, never through the ``Sandbox`` class, so the
class can build its app from them without the two importing each other. ``Sandbox`` satisfies it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Protocol

from ._clock import SandboxClock
from ._config import SandboxConfig
from ._records import Invitation, User
from ._state import SandboxState

__all__ = ["SandboxCredentials", "SandboxHost", "SandboxSnapshot"]


@dataclasses.dataclass(frozen=True)
class SandboxCredentials:
    """What a client needs to reach the sandbox: account ids, personal access tokens of an
    administrator, a manager with teammates and a member, a registered OAuth client, and the
    control-plane token."""

    account_id: int
    forecast_account_id: int
    admin_token: str
    manager_token: str
    member_token: str
    oauth_client_id: str
    oauth_client_secret: str
    oauth_redirect_uri: str
    control_token: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SandboxSnapshot:
    """An opaque copy of a sandbox's data (``Sandbox.snapshot()``), restorable any number of times."""

    data: bytes

    def __repr__(self) -> str:
        return f"SandboxSnapshot(<{len(self.data)} bytes>)"


class SandboxHost(Protocol):
    """The account a handler works on. Read ``state`` on every call: ``reset()`` and ``restore()``
    replace it. Handlers run under ``lock`` and call ``mark_changed()`` after a change."""

    @property
    def state(self) -> SandboxState: ...

    @property
    def config(self) -> SandboxConfig: ...

    @property
    def clock(self) -> SandboxClock: ...

    @property
    def credentials(self) -> SandboxCredentials: ...

    @property
    def lock(self) -> threading.RLock: ...

    def mark_changed(self) -> None: ...

    def record_invitation(self, user: User, origin: str) -> Invitation: ...
