"""``thresher demo --serve``: the whole service on the embedded sandbox, with a one-time login."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx


def test_demo_serve_prints_a_dashboard_and_a_login_that_works() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher", "demo", "--users", "8", "--serve"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**env, "COLUMNS": "400"},
    )
    try:
        assert proc.stderr is not None
        line = next(line for line in proc.stderr if line.startswith("Dashboard:"))
        match = re.search(r"(http://127\.0\.0\.1:\d+)/ \(sign in as (\S+) with password (\S+):", line)
        assert match, line
        url, username, password = match.groups()
        mcp_line = next(line for line in proc.stderr if line.startswith("MCP server:"))
        mcp = re.search(r"(http://127\.0\.0\.1:\d+/mcp) \(streamable HTTP; demo token thmcp_\S+\)",
                        mcp_line)
        assert mcp, mcp_line
        assert mcp.group(1) == f"{url}/mcp"
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as http:
            form = http.get("/login")
            nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert nonce
            page = http.post("/login", data={"csrf": nonce.group(1), "username": username,
                                             "password": password, "next": "/"})
            assert page.status_code == 200
            assert 'data-connection="demo"' in page.text
            assert http.get("/healthz").json() == {"status": "ok"}
            hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            accept = "application/json, text/event-stream"
            assert http.post("/mcp", json=hello, headers={"Accept": accept}).status_code == 401
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
