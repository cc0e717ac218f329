"""The servers the CLI runs: ``scim serve --port 0`` says which port it got, a busy port is one
line and a non-zero exit (the same as ``sandbox serve``), and ``--access-log`` writes one line per
request without query strings or headers.

The servers run as users run them, in subprocesses; every wait ends on a line the server prints,
bounded by a generous timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from provision.conftest import Cli

#: Only bounds a hung test; each wait ends as soon as its line appears.
PATIENCE = 60.0


class Lines:
    """A stream's lines, collected by a thread as the process writes them."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, found: Callable[[str], bool], proc: subprocess.Popen[str], what: str) -> str:
        deadline = time.monotonic() + PATIENCE
        while True:
            for line in list(self.lines):
                if found(line):
                    return line
            assert proc.poll() is None or self._thread.is_alive(), f"exited before {what}:\n{self.text}"
            assert time.monotonic() < deadline, f"never saw {what}:\n{self.text}"
            time.sleep(0.02)

    def join(self) -> None:
        self._thread.join(PATIENCE)


@contextmanager
def _serve(args: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        yield proc, out, err
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(PATIENCE)
        out.join()
        err.join()
        proc.stdout.close()
        proc.stderr.close()


def _env(cli: Cli) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
    return {**inherited, **cli.env}


def test_scim_serve_on_port_0_prints_the_port_and_logs_each_request(cli: Cli) -> None:
    secret = json.loads(cli("scim", "token", "create", "--name", "idp", "--json").stdout)["token"]
    with _serve(["scim", "serve", "--port", "0", "--sync-interval", "3600"], _env(cli)) as (proc, _, err):
        started = err.wait_for(lambda line: "SCIM bridge for" in line, proc, "the bridge starting")
        match = re.search(r"on http://127\.0\.0\.1:(\d+)/scim/v2$", started)
        assert match, started
        port = int(match.group(1))
        assert port != 0
        url = f"http://127.0.0.1:{port}/scim/v2"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as http:
            # The query string names a person (and, for some clients, carries a token).
            found = http.get("/Users", params={
                "filter": 'userName eq "private.person@example.com"', "access_token": "query-secret",
            })
            assert found.status_code == 200
            refused = http.get("/Users", headers={"Authorization": "Bearer wrong-token"})
            assert refused.status_code == 401
            # A path that tries to forge a second log line.
            assert http.get("/Users/1%0Aforged 200").status_code == 404
        err.wait_for(lambda line: " GET /scim/v2/Users 401 " in line, proc, "the refused request's line")
        forged = err.wait_for(lambda line: "/scim/v2/Users/1" in line, proc, "the odd path's line")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(PATIENCE) == 130
    logged = [line for line in err.lines if " GET /scim/v2/" in line]
    assert len(logged) == 3, err.text
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 GET /scim/v2/Users 200 \d+ B [\d.]+ ms", logged[0]
    ), logged[0]
    assert "/scim/v2/Users/1%0Aforged%20200 404" in forged
    for never in ("query-secret", "private.person", "filter", secret, "wrong-token", "Bearer"):
        assert never not in err.text, never


def test_a_busy_port_is_one_line_and_exit_1_as_for_the_sandbox(cli: Cli) -> None:
    env = _env(cli)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        scim = subprocess.run(
            [sys.executable, "-m", "thresher", "scim", "serve", "--port", port],
            env=env, capture_output=True, text=True, timeout=PATIENCE, check=False,
        )
        sandbox = subprocess.run(
            [sys.executable, "-m", "thresher", "sandbox", "serve", "--port", port],
            env=env, capture_output=True, text=True, timeout=PATIENCE, check=False,
        )
    assert scim.returncode == sandbox.returncode == 1
    first = scim.stderr.splitlines()[0]
    assert first == f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use"
    assert scim.stderr == sandbox.stderr
    assert "Traceback" not in scim.stderr
    assert scim.stdout == ""


def test_sandbox_serve_access_log(cli: Cli) -> None:
    args = ["sandbox", "serve", "--port", "0", "--users", "3", "--rate-limit", "off", "--access-log"]
    with _serve(args, _env(cli)) as (proc, out, err):
        line = out.wait_for(lambda line: line.startswith("export HARVEST_ACCESS_TOKEN="), proc, "the token")
        token = line.split("=", 1)[1]
        api = out.wait_for(lambda line: line.startswith("export HARVEST_BASE_URL="), proc, "the URL")
        account = out.wait_for(lambda line: line.startswith("export HARVEST_ACCOUNT_ID="), proc, "the id")
        headers = {
            "Authorization": f"Bearer {token}", "Harvest-Account-Id": account.split("=", 1)[1],
            "User-Agent": "thresher-tests (tests@example.com)",
        }
        me = httpx.get(f"{api.split('=', 1)[1]}/users/me", params={"access_token": "query-secret"},
                       headers=headers)
        assert me.status_code == 200
        err.wait_for(lambda line: " GET /v2/users/me 200 " in line, proc, "the access line")
    assert token not in err.text
    assert "query-secret" not in err.text
