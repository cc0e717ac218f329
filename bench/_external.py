"""Start ``thresher sandbox serve`` in its own process for benchmarks.

A sandbox in the benchmark's own process shares its interpreter lock with the client being
measured; Harvest is a remote service, so benchmarks of the client run the sandbox apart.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def external_sandbox(*args: str, timeout: float = 120.0) -> Iterator[dict[str, Any]]:
    """Yield the credentials JSON of a sandbox served by a child process (stopped on exit)."""
    with tempfile.TemporaryDirectory(prefix="thresher-bench-") as tmp:
        creds_file = Path(tmp) / "credentials.json"
        cmd = [
            sys.executable,
            "-m",
            "thresher",
            "sandbox",
            "serve",
            "--port",
            str(_free_port()),
            "--credentials-json",
            str(creds_file),
            *args,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            while not creds_file.exists() or not creds_file.read_text():
                if proc.poll() is not None:
                    raise RuntimeError(f"sandbox exited with {proc.returncode}: {' '.join(cmd)}")
                if time.monotonic() > deadline:
                    raise RuntimeError("sandbox did not start in time")
                time.sleep(0.05)
            time.sleep(0.2)
            yield json.loads(creds_file.read_text())
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def client_for(creds: dict[str, Any], **options: Any) -> Any:
    """An ``AsyncHarvest`` on the external sandbox as its administrator, with its own limiter
    registry (so one benchmark's budget never leaks into another's); ``options`` override."""
    from thresher.harvest import AsyncHarvest, LimiterRegistry

    settings: dict[str, Any] = {
        "access_token": creds["admin_token"],
        "account_id": creds["account_id"],
        "user_agent": "thresher-bench (bench@example.com)",
        "base_url": creds["api_url"],
        "id_url": creds["id_url"],
        "limiter_registry": LimiterRegistry(),
    }
    return AsyncHarvest(**{**settings, **options})
