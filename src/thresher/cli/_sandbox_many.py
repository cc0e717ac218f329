"""``thresher sandbox serve --accounts N --users-per-account M``: many independent accounts on one
port (``thresher.sandbox.MultiSandbox``), for trying and benchmarking the workers (docs/scale-out.md).
"""

# ruff: noqa: PLC0415 - heavy stacks are imported inside the command (tests/cli/test_startup.py)

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import typer

from ._console import err_console, out

__all__ = ["serve_many"]


def serve_many(
    accounts: int,
    users: int,
    *,
    host: str,
    port: int,
    seed: int,
    rate_limit: str,
    latency_ms: float,
    faults: str | None,
    credentials_json: Path | None,
    refused: list[str],
    write_private: Callable[[Path, str], None],
) -> None:
    from thresher.sandbox import MultiSandbox, SandboxConfig, run_multi_sandbox

    if refused:
        raise typer.BadParameter(
            f"{', '.join(refused)} cannot be combined with --accounts: each account derives its own "
            "(--credentials-json writes every account's id and tokens)",
            param_hint="'--accounts'",
        )
    config = SandboxConfig(
        users=users, seed=seed, rate_limit=rate_limit, latency_ms=latency_ms, faults=faults
    )
    multi = MultiSandbox(accounts, config)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        with run_multi_sandbox(multi, host, port) as running:
            if credentials_json is not None:
                document = {
                    "base_url": running.base_url, "api_url": running.api_url, "id_url": running.id_url,
                    "accounts": multi.credentials(),
                }
                write_private(credentials_json, json.dumps(document, indent=2))
            first = multi.sandboxes[0].credentials
            out.print(
                f"[bold]Sandbox Harvest[/] at {running.base_url}: {accounts} accounts of {users} users "
                f"(account ids {first.account_id}..{first.account_id + accounts - 1})", soft_wrap=True,
            )
            out.print(f"export HARVEST_BASE_URL={running.api_url}", soft_wrap=True, markup=False)
            out.print(f"export HARVEST_ID_URL={running.id_url}", soft_wrap=True, markup=False)
            if credentials_json is not None:
                out.print(f"Every account's id and tokens: {credentials_json} (mode 0600)", markup=False)
            else:
                out.print("Pass --credentials-json FILE for every account's id and tokens.")
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err_console.print("Stopped.")
