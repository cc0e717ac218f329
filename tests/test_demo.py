"""``thresher demo``, the README's main job, run as a user runs it: a subprocess of the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from thresher.store import Store


def _demo(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "thresher", "demo", "--users", "12", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@contextlib.contextmanager
def _killed_on_failure(proc: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()


def _read_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # print_json writes indented JSON, closed by "}" at column 0
        lines.append(line)
        if line.rstrip("\n") == "}":
            break
    data: dict[str, Any] = json.loads("".join(lines))
    return data


def test_demo_syncs_records_changes_and_provisions_through_the_bridge() -> None:
    with _demo("--json") as proc:
        result = _read_json(proc)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    assert result["first_sync"]["users_seen"] == 12
    kinds = sorted(e["kind"] for e in result["events"])
    assert kinds == ["archived", "created", "updated"]
    scim = result["scim"]
    assert scim["created"]["userName"] == "grace.hopper@example.com"
    assert scim["created"]["timezone"] == "America/New_York"
    assert scim["invitations"] == 1
    assert scim["archived_in_harvest"] is True
    assert result["scim_token"].startswith("thscim_")


def test_demo_serve_keeps_the_bridge_up_for_the_printed_curl_until_ctrl_c() -> None:
    with _demo("--serve") as proc, _killed_on_failure(proc):
        assert proc.stdout is not None
        curl = next(line for line in proc.stdout if line.startswith("curl "))
        # The printed command, taken apart as a shell would: the header and the URL.
        words = shlex.split(curl)
        header, url = words[words.index("-H") + 1], words[-1]
        name, _, value = header.partition(": ")
        response = httpx.get(url, headers={name: value}, timeout=30)
        assert response.status_code == 200, response.text
        found = response.json()
        assert found["totalResults"] == 1
        assert found["Resources"][0]["active"] is False  # the demo deprovisioned her
        assert httpx.get(url, timeout=30).status_code == 401  # no token, no answer
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        assert "Stopped." in proc.stderr.read()


def test_demo_runs_again_into_the_same_store(tmp_path: Path) -> None:
    # A store given with --database-url keeps the earlier demo's connection and token; the next
    # run takes fresh names instead of failing on them.
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    for _ in range(2):
        with _demo("--json", "--database-url", url) as proc:
            result = _read_json(proc)
            assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        assert result["scim"]["invitations"] == 1
    with Store.open(url) as store:
        assert sorted(c.name for c in store.list_connections()) == ["demo", "demo-2"]
