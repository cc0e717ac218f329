"""apply: progress in logs and pipes, and a create whose email was taken behind the mirror."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ._harvest import harvest, requests
from .conftest import Cli

HEADER = "email,first_name,last_name,access_roles,weekly_capacity_hours\n"


def test_apply_prints_progress_lines_through_a_pipe(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "".join(f"p{i}@example.com,P{i},Piped,,\n" for i in range(12)))
    # --progress-every 0 prints a line per change (the default is one every 5 s).
    proc = subprocess.run(
        [sys.executable, "-m", "thresher", "apply", str(path), "--yes", "--progress-every", "0"],
        env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("apply: ")]
    assert lines[0] == "apply: 12 change(s) to make"
    done = [int(m.group(1)) for line in lines if (m := re.match(r"apply: (\d+)/12 \(\d+%\), ", line))]
    assert done == list(range(1, 13))
    assert re.search(r"/s, elapsed \d+:\d\d:\d\d, ETA \d+:\d\d:\d\d$", lines[-1])
    assert "\x1b" not in proc.stderr + proc.stdout  # no bar, no escape codes in a log
    assert "Applied 12 create." in proc.stdout


def test_a_create_whose_email_was_taken_since_the_sync_converges(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    # Someone creates the user in Harvest, stamped before the mirror's sync window (a commit
    # that lands late): the apply's incremental sync does not see it, so the plan says create.
    cli.sandbox.set_clock_offset(-7200)
    taken = harvest(cli, "POST", "/users", {
        "email": "Taken@Example.com", "first_name": "Old", "last_name": "Name"}).json()
    harvest(cli, "PATCH", f"/users/{taken['id']}", {"is_active": False})
    cli.sandbox.set_clock_offset(0)
    outbox = len(cli.sandbox.state.outbox)
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "taken@example.com,New,Name,manager,30\nfree@example.com,Free,One,,\n")
    assert cli.json("plan", str(path))["counts"] == {"create": 2}
    before = requests(cli)
    result = cli.json("apply", str(path), "--yes")
    assert result["applied"] == {"adopted": 1, "create": 1}
    user = cli.sandbox.state.users[taken["id"]]
    assert (user.first_name, user.is_active, user.access_roles, user.weekly_capacity) == (
        "New", True, ["manager"], 30 * 3600)
    posts = [r for r in list(cli.sandbox.state.request_log)[before:] if r.method == "POST"]
    assert sorted(r.status for r in posts) == [201, 422]  # one request per create
    assert len(cli.sandbox.state.outbox) - outbox == 1  # only free@ was invited
    assert cli.json("plan", str(path), "--refresh")["changes"] == []
