"""Out-of-band changes: what someone does in Harvest directly, behind the mirror's back."""

from __future__ import annotations

from typing import Any

import httpx

from provision.conftest import UA, Cli


def harvest(cli: Cli, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """One request to the sandbox's Harvest API with the admin token, outside thresher."""
    creds = cli.sandbox.credentials
    response = httpx.request(
        method, f"{cli.running.api_url}{path}", json=body, timeout=30,
        headers={"Authorization": f"Bearer {creds.admin_token}",
                 "Harvest-Account-Id": str(creds.account_id), "User-Agent": UA},
    )
    response.raise_for_status()
    return response


def requests(cli: Cli) -> int:
    return len(cli.sandbox.state.request_log)


def writes(cli: Cli, since: int) -> list[tuple[str, str]]:
    """The non-GET requests the sandbox saw after the ``since``-th."""
    log = list(cli.sandbox.state.request_log)[since:]
    return [(r.method, r.path) for r in log if r.method != "GET"]
