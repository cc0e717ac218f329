"""``thresher sandbox serve --provider greenhouse`` as a user runs it: a subprocess on a free
port, its credentials file (0600), the client listing users with the printed credentials, a clean
stop; and the Harvest-only flags refused as usage errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from thresher.greenhouse import AsyncGreenhouse, GreenhouseSettings, User

_SERVE = [
    sys.executable,
    "-c",
    "from thresher.cli import main; main()",
    "sandbox",
    "serve",
    "--provider",
    "greenhouse",
]


async def _list_users(settings: GreenhouseSettings) -> list[User]:
    async with AsyncGreenhouse(settings) as gh:
        return [u async for u in gh.list_users()]


def test_serve_greenhouse(tmp_path: Path) -> None:
    credentials = tmp_path / "gh.json"
    process = subprocess.Popen(
        [*_SERVE, "--port", "0", "--users", "12", "--seed", "4", "--credentials-json", str(credentials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not credentials.exists() or not credentials.read_text().rstrip().endswith("}"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        assert credentials.stat().st_mode & 0o777 == 0o600
        doc = json.loads(credentials.read_text())
        env = doc["env"]
        assert env["GREENHOUSE_RATE_LIMIT"] == "75/30s"  # Greenhouse's example, not Harvest's 100/15s
        assert len(anyio.run(_list_users, GreenhouseSettings.from_env(env))) == 12
    finally:
        process.send_signal(signal.SIGTERM)
        output, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert f"export GREENHOUSE_BASE_URL={env['GREENHOUSE_BASE_URL']}" in output
    assert "HARVEST_" not in output


def test_harvest_only_flags_are_usage_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_SERVE, "--state", str(tmp_path / "s.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "belong to the Harvest sandbox" in done.stderr
    assert "Traceback" not in done.stderr
