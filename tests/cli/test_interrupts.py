"""Ctrl-C in a terminal and through a pipe: the CLI runs in a pseudo-terminal, the test types
Ctrl-C (the terminal turns it into SIGINT for the foreground process), or with its output piped
(a CI job) gets SIGINT itself, and the command exits 130 saying how to resume.

Each test waits for the command to show it is working (a line it prints, or a request reaching
the sandbox) before typing Ctrl-C, so nothing depends on timing.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox

from .test_serving import Lines

UA = "thresher-cli-tests (tests@example.com)"
#: Only bounds a hung test; every wait below ends as soon as its condition holds.
PATIENCE = 60.0


class Terminal:
    """A command in a pseudo-terminal, with its output collected as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        # A session of its own with this terminal as its controlling one, as a shell would do it.
        self.output = ""

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # the other side closed: nothing more to read
                self.output += os.read(self.master, 65536).decode(errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while not condition():
            assert self.proc.poll() is None, f"exited before {what}:\n{self.output}"
            assert time.monotonic() < deadline, f"never saw {what}:\n{self.output}"
            self._read(0.1)

    def ctrl_c(self) -> int:
        # SIGINT to the foreground process group, which is what the terminal driver does with ^C.
        os.killpg(self.proc.pid, signal.SIGINT)
        deadline = time.monotonic() + PATIENCE
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"did not stop after Ctrl-C:\n{self.output}"
            self._read(0.1)
        self._read(0.2)
        os.close(self.master)
        return self.proc.returncode


@pytest.fixture
def slow_sandbox() -> Iterator[RunningSandbox]:
    # 150 ms per request: a sync of 60 users in pages of 5 takes a couple of seconds.
    with run_sandbox(Sandbox(SandboxConfig(users=60, seed=5, latency_ms=150))) as running:
        yield running


def _env(tmp_path: Path, running: RunningSandbox | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))
    }
    env.update(
        THRESHER_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        THRESHER_SECRET_KEY="interrupt-tests-secret",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        HARVEST_USER_AGENT=UA,
        COLUMNS="120",
    )
    if running is not None:
        creds = running.sandbox.credentials
        env.update(
            HARVEST_ACCESS_TOKEN=creds.admin_token,
            HARVEST_ACCOUNT_ID=str(creds.account_id),
            HARVEST_BASE_URL=running.api_url,
            HARVEST_ID_URL=running.id_url,
        )
    return env


def _requests(running: RunningSandbox) -> int:
    return len(running.sandbox.state.request_log)


def test_ctrl_c_during_sync_exits_130_and_says_how_to_resume(
    slow_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    term = Terminal(
        [sys.executable, "-m", "thresher", "sync", "--page-size", "5"], _env(tmp_path, slow_sandbox)
    )
    term.wait_for(lambda: _requests(slow_sandbox) >= 3, "the sync's first pages")
    assert term.ctrl_c() == 130
    assert "Interrupted" in term.output
    assert "re-run" in term.output
    assert "Unexpected error" not in term.output
    assert "Traceback" not in term.output


def test_ctrl_c_during_sync_watch_exits_130(slow_sandbox: RunningSandbox, tmp_path: Path) -> None:
    term = Terminal(
        [sys.executable, "-m", "thresher", "sync", "--watch", "--interval", "1", "--page-size", "20"],
        _env(tmp_path, slow_sandbox),
    )
    term.wait_for(lambda: _requests(slow_sandbox) >= 2, "the first sync's requests")
    assert term.ctrl_c() == 130
    assert "Interrupted" in term.output
    assert "Traceback" not in term.output


def test_ctrl_c_while_login_oauth_waits_for_the_browser(tmp_path: Path) -> None:
    # Nothing answers at the identity URL: the command only prints the URL and listens.
    env = _env(tmp_path)
    term = Terminal(
        [sys.executable, "-m", "thresher", "login", "--oauth", "--no-browser",
         "--client-id", "abc", "--client-secret", "shh", "--id-url", "http://127.0.0.1:9",
         "--redirect-uri", "http://127.0.0.1:0/callback"],
        env,
    )
    term.wait_for(lambda: "Open this URL" in term.output, "the authorization URL")
    assert term.ctrl_c() == 130
    assert "Interrupted" in term.output
    assert "shh" not in term.output
    assert "Traceback" not in term.output


def test_ctrl_c_stops_scim_serve_with_130(slow_sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = _env(tmp_path, slow_sandbox)
    term = Terminal(
        [sys.executable, "-m", "thresher", "scim", "serve", "--port", "0", "--sync-interval", "3600"],
        env,
    )
    term.wait_for(lambda: "SCIM bridge for" in term.output, "the bridge starting")
    assert term.ctrl_c() == 130
    assert "Interrupted" in term.output
    assert "Traceback" not in term.output


def _roster(tmp_path: Path, n: int = 30) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text("email,first_name,last_name\n"
                    + "".join(f"joiner{i:03d}@example.com,Joiner,No{i}\n" for i in range(n)))
    return path


#: A client budget that runs out long before the apply does: the apply is still waiting for its
#: turn when Ctrl-C comes, however fast the machine.
SLOW_BUDGET = {"HARVEST_RATE_LIMIT": "20/60s"}


def _posts(running: RunningSandbox) -> int:
    return sum(1 for r in running.sandbox.state.request_log if r.method == "POST")


@pytest.fixture
def unlimited_sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox(Sandbox(SandboxConfig(users=20, seed=5, rate_limit=None))) as running:
        yield running


def test_ctrl_c_during_apply_exits_130_and_says_how_to_resume(
    unlimited_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    env = {**_env(tmp_path, unlimited_sandbox), **SLOW_BUDGET}
    term = Terminal(
        [sys.executable, "-m", "thresher", "apply", str(_roster(tmp_path)), "--yes"], env
    )
    term.wait_for(lambda: _posts(unlimited_sandbox) >= 1, "the apply's first create")
    assert term.ctrl_c() == 130
    assert "Interrupted" in term.output
    assert "re-run" in term.output
    assert "Traceback" not in term.output
    assert len(unlimited_sandbox.sandbox.state.outbox) < 30


class Piped:
    """A command with stdout and stderr to pipes (a CI job, ``| tee log``): no terminal, so Ctrl-C
    is a SIGINT sent to the process, as a job runner sends it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, text=True, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.out, self.err = Lines(self.proc.stdout), Lines(self.proc.stderr)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while not condition():
            assert self.proc.poll() is None, f"exited before {what}:\n{self.err.text}"
            assert time.monotonic() < deadline, f"never saw {what}:\n{self.err.text}"
            time.sleep(0.05)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(PATIENCE)
        self.out.join()
        self.err.join()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code


@pytest.mark.parametrize("command", ["apply", "sync", "sync --watch", "scim serve", "login --oauth"])
def test_ctrl_c_through_a_pipe_exits_130_with_the_message(
    command: str, slow_sandbox: RunningSandbox, unlimited_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    thresher = [sys.executable, "-m", "thresher"]
    env = _env(tmp_path, slow_sandbox)
    if command == "apply":
        env = {**_env(tmp_path, unlimited_sandbox), **SLOW_BUDGET}
        piped = Piped([*thresher, "apply", str(_roster(tmp_path)), "--yes"], env)
        piped.wait_for(lambda: _posts(unlimited_sandbox) >= 1, "the apply's first create")
    elif command == "sync":
        piped = Piped([*thresher, "sync", "--page-size", "5"], env)
        piped.wait_for(lambda: _requests(slow_sandbox) >= 3, "the sync's first pages")
    elif command == "sync --watch":
        piped = Piped([*thresher, "sync", "--watch", "--interval", "1", "--page-size", "20"], env)
        piped.wait_for(lambda: _requests(slow_sandbox) >= 2, "the first sync's requests")
    elif command == "scim serve":
        piped = Piped([*thresher, "scim", "serve", "--port", "0", "--sync-interval", "3600"], env)
        piped.wait_for(lambda: "SCIM bridge for" in piped.err.text, "the bridge starting")
    else:
        piped = Piped(
            [*thresher, "login", "--oauth", "--no-browser", "--client-id", "abc", "--client-secret",
             "shh", "--id-url", "http://127.0.0.1:9", "--redirect-uri", "http://127.0.0.1:0/callback"],
            _env(tmp_path),
        )
        piped.wait_for(lambda: "Open this URL" in piped.err.text, "the authorization URL")
    assert piped.interrupt() == 130
    assert "Interrupted" in piped.err.text
    assert "re-run" in piped.err.text
    assert "Traceback" not in piped.err.text + piped.out.text
    assert "Unexpected error" not in piped.err.text
