"""The change log as people and pipes read it: newest first, emails beside ids, ``--follow`` as a
stream, and ``sync --watch --json`` as JSON Lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from provision.conftest import Cli

#: Only bounds a hung subprocess; the reads below end as soon as their line arrives.
PATIENCE = 60.0


def test_changes_are_newest_first_and_limit_keeps_the_newest(cli: Cli) -> None:
    cli("sync")
    cli("users", "create", "--email", "late@example.com", "--first-name", "La", "--last-name", "Te")
    every = cli.json("changes")
    ids = [e["id"] for e in every]
    assert ids == sorted(ids, reverse=True)
    newest = cli.json("changes", "--limit", "1")
    assert [e["id"] for e in newest] == [max(ids)]
    assert newest[0]["email"] == "late@example.com"
    assert newest[0]["kind"] == "created"
    table = cli("changes", "--limit", "3").stdout
    assert "late@example.com" in table


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the stream ended (exit {proc.poll()})"
    return line


def test_follow_streams_new_events_as_json_lines(cli: Cli) -> None:
    cli("sync")
    before = cli.json("changes")
    with subprocess.Popen(
        [sys.executable, "-m", "thresher", "changes", "--follow", "--poll", "0.2", "--json",
         "--limit", "2"],
        env={**os.environ, **cli.env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        _follow(cli, proc, before)


def _follow(cli: Cli, proc: subprocess.Popen[str], before: list[dict[str, object]]) -> None:
    try:
        first = [json.loads(_read_line(proc)), json.loads(_read_line(proc))]
        # The backlog comes oldest first in a stream, like tail -f.
        assert [e["id"] for e in first] == sorted(int(str(e["id"])) for e in before[:2])
        cli("users", "create", "--email", "streamed@example.com", "--first-name", "S",
            "--last-name", "T")
        deadline = time.monotonic() + PATIENCE
        while True:
            assert time.monotonic() < deadline
            event = json.loads(_read_line(proc))
            if event.get("email") == "streamed@example.com":
                break
        assert event["kind"] == "created"
        assert event["id"] > max(int(str(e["id"])) for e in before)
    finally:
        proc.terminate()
        proc.wait(timeout=PATIENCE)


def test_sync_watch_json_prints_one_report_per_line(cli: Cli) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "thresher", "sync", "--watch", "--interval", "1", "--json"],
        env={**os.environ, **cli.env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        try:
            reports = [json.loads(_read_line(proc)), json.loads(_read_line(proc))]
        finally:
            proc.terminate()
            proc.wait(timeout=PATIENCE)
    assert reports[0]["kind"] == "full"
    assert reports[1]["kind"] == "incremental"
    assert all(r["connection"] == reports[0]["connection"] for r in reports)
