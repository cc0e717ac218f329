"""Many sandbox accounts behind one port: N independent :class:`Sandbox` instances, each with its
own users, tokens, rate limit, request log and faults, and one ASGI app that sends each request
to its account.

Harvest routes by the ``Harvest-Account-Id`` header (or ``account_id`` query, §1.1); requests
without one (the identity service's ``/api/v2/accounts``, the OAuth token endpoint, the control
plane) go to the account whose token they carry. Account ``i`` has seed ``seed + i`` and account
id ``first_account_id + i``, so its tokens are the same on every run. Used by
``thresher sandbox serve --accounts N`` and by the workers' tests and bench (tests/jobs,
bench/scale.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from thresher._serving import serve_in_thread

from ._config import SandboxConfig
from ._errors import SandboxConfigError, SandboxServerError
from ._sandbox import Sandbox
from ._server import RunningSandbox, _QuietDrops

__all__ = ["MultiSandbox", "RunningMultiSandbox", "run_multi_sandbox"]

#: The default first account id: 7 digits like Harvest's, apart from single sandboxes' seeds.
FIRST_ACCOUNT_ID = 5_000_001


class MultiSandbox:
    """``accounts`` sandboxes of ``config`` (``users`` each), differing by seed and account id."""

    def __init__(
        self, accounts: int, config: SandboxConfig | None = None, *, first_account_id: int = FIRST_ACCOUNT_ID
    ) -> None:
        if accounts < 1:
            raise SandboxConfigError("a multi-account sandbox needs at least one account")
        base = config or SandboxConfig()
        if base.state_file is not None:
            raise SandboxConfigError(
                "a multi-account sandbox keeps its accounts in memory only",
                hint="Drop --state, or serve one account with it.",
            )
        fixed = [base.account_id, base.admin_token, base.manager_token, base.member_token]
        if any(value is not None for value in fixed):
            raise SandboxConfigError("account ids and tokens are derived per account here; leave them unset")
        self.sandboxes = [
            Sandbox(dataclasses.replace(base, seed=base.seed + i, account_id=first_account_id + i))
            for i in range(accounts)
        ]
        self._by_account = {str(s.credentials.account_id): s for s in self.sandboxes}
        self._by_token: dict[str, Sandbox] = {}
        for sandbox in self.sandboxes:
            c = sandbox.credentials
            for token in (c.admin_token, c.manager_token, c.member_token, c.control_token, c.oauth_client_id):
                self._by_token[token] = sandbox

    def account(self, account_id: int) -> Sandbox:
        return self._by_account[str(account_id)]

    def _route(self, scope: Scope) -> Sandbox:
        headers = dict(scope.get("headers") or ())
        account = headers.get(b"harvest-account-id")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if account is None and query.get("account_id"):
            account = query["account_id"][0].encode()
        if account is not None:
            found = self._by_account.get(account.decode("latin-1").strip())
            if found is not None:
                return found
        token = None
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif query.get("access_token"):
            token = query["access_token"][0]
        elif query.get("client_id"):
            token = query["client_id"][0]
        if token:
            found = self._by_token.get(token)
            if found is not None:
                return found
            for sandbox in self.sandboxes:  # a token issued over OAuth since the start
                if token in sandbox.state.access_tokens:
                    return sandbox
        # Unknown account or token: the first account answers with Harvest's 401.
        return self.sandboxes[0]

    @property
    def app(self) -> MultiSandbox:
        """The ASGI app (this object), like ``Sandbox.app``."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Accounts keep no state file here, so their own lifespans have nothing to do.
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self._route(scope).app(scope, receive, send)

    def credentials(self) -> list[dict[str, Any]]:
        return [s.credentials.as_dict() for s in self.sandboxes]


@dataclasses.dataclass(frozen=True)
class RunningMultiSandbox:
    """Where a running multi-account sandbox answers (``api_url`` is every account's
    ``HARVEST_BASE_URL``)."""

    multi: MultiSandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return RunningSandbox(self.multi.sandboxes[0], self.host, self.port).base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def id_url(self) -> str:
        return self.base_url


@contextlib.contextmanager
def run_multi_sandbox(
    multi: MultiSandbox, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[RunningMultiSandbox]:
    """Serve every account of ``multi`` on one port in a background thread until the block ends."""
    with serve_in_thread(
        multi.app, host, port, name="thresher-sandbox", log_level=log_level,
        log_filter=_QuietDrops(), error=SandboxServerError,
    ) as bound_port:
        yield RunningMultiSandbox(multi, host, bound_port)
