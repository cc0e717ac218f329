"""Destructive commands confirm the same way: they ask on a terminal, refuse without one unless
``--yes``, and a declined prompt is "Aborted." with exit 1.

The real CLI runs as a subprocess against a sandbox over HTTP: with stdin a pipe (a script, CI),
and in a pseudo-terminal (``pty``) where a person answers the prompt.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from provision.conftest import Cli

_TIMEOUT = 120.0  # generous bound on a subprocess, never an assertion about speed


def _env(cli: Cli) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
    return {**inherited, **cli.env}


def piped(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """``thresher ARGS`` from a script: stdin, stdout and stderr are pipes."""
    return subprocess.run(
        [sys.executable, "-m", "thresher", *args], env=_env(cli), input="y\n", text=True,
        capture_output=True, timeout=_TIMEOUT, check=False,
    )


def in_terminal(cli: Cli, answer: str, *args: str) -> tuple[int, str]:
    """``thresher ARGS`` in a pseudo-terminal; ``answer`` is typed once the prompt shows."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher", *args], env=_env(cli),
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )
    os.close(slave)
    output, answered = b"", False
    deadline = time.monotonic() + _TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(master, answer.encode() + b"\r")
                answered = True
        # Rich colours a terminal's output; compare the text.
        return proc.wait(timeout=_TIMEOUT), re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def _member(cli: Cli, skip: frozenset[int] = frozenset()) -> int:
    state = cli.sandbox.state
    return next(
        u.id for u in state.users.values()
        if u.is_active and u.access_roles == ["member"] and u.id not in skip
        and not state.time_entries.get(u.id) and not state.expenses.get(u.id)
    )


def test_through_a_pipe_delete_refuses_unless_yes(cli: Cli) -> None:
    cli("sync")
    a = _member(cli)
    done = piped(cli, "users", "delete", str(a))  # "y" on stdin is not an answer: nobody was asked
    assert done.returncode == 2, done.stderr
    assert "not confirmed, so nothing was changed" in done.stderr
    assert "re-run with --yes" in done.stderr
    assert "Unexpected error" not in done.stderr
    assert a in cli.sandbox.state.users
    done = piped(cli, "users", "delete", str(a), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert a not in cli.sandbox.state.users


def test_every_destructive_command_refuses_without_a_terminal_unless_yes(cli: Cli) -> None:
    # In-process: the runner's stdin is not a terminal either, and this is quicker than a
    # subprocess per command.
    cli("sync")
    state = cli.sandbox.state
    a = _member(cli)
    b = _member(cli, frozenset({a}))
    lead = cli.json("users", "create", "--email", "lead@example.com", "--first-name", "Lea",
                    "--last-name", "Dor", "--access-roles", "manager")["id"]
    cli("teammates", "set", "lead@example.com", str(a), str(b))  # removes nobody: no question
    cli("roles", "create", "Pilots", "--member", str(a))

    for argv in (
        ["users", "delete", str(a)],
        ["offboard", str(a), "--delete"],
        ["roles", "delete", "pilots"],
        ["teammates", "set", "lead@example.com", str(a)],
    ):
        done = cli(*argv, ok=False, input="y\n")
        assert done.exit_code == 2, (argv, done.stderr)
        assert "not confirmed, so nothing was changed" in done.stderr
    assert sorted(state.teammates[lead]) == sorted([a, b])
    assert state.users[a].is_active
    assert any(r.name == "Pilots" for r in state.roles.values())

    cli("teammates", "set", "lead@example.com", str(a), "--yes")
    assert list(state.teammates[lead]) == [a]
    cli("roles", "delete", "pilots", "-y")
    assert not any(r.name == "Pilots" for r in state.roles.values())
    cli("teammates", "set", "lead@example.com", "--yes")
    assert cli.json("offboard", str(a), "--delete", "--yes")["outcome"] == "deleted"
    assert a not in state.users


def test_in_a_terminal_they_ask_and_no_aborts(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    a = _member(cli)
    email = state.users[a].email

    code, output = in_terminal(cli, "n", "users", "delete", email)
    assert f"<{email}> (id {a}) from Harvest for good? [y/N]" in output
    assert "Aborted." in output
    assert code == 1
    assert a in state.users

    cli("roles", "create", "Pilots", "--member", str(a))
    code, output = in_terminal(cli, "y", "roles", "delete", "Pilots")
    assert "Delete the role Pilots (1 member(s) lose it)? [y/N]" in output
    assert code == 0, output
    assert "Deleted role Pilots." in output
    assert not any(r.name == "Pilots" for r in state.roles.values())
