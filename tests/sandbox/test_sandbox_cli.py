"""``thresher sandbox serve`` as a user runs it: a subprocess on a free port, its credentials file,
a request, a clean stop, and a restart that keeps the data (``--state``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import harvest_headers
from thresher.sandbox._control import RUNTIME_SETTINGS

_SERVE = [sys.executable, "-c", "from thresher.cli import main; main()", "sandbox", "serve"]


def _start(args: list[str], credentials: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    credentials.unlink(missing_ok=True)
    process = subprocess.Popen(
        [*_SERVE, "--port", "0", "--credentials-json", str(credentials), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not credentials.exists() or not credentials.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output, errors = process.communicate()
            raise AssertionError(f"serve did not start: {output}\n{errors}")
        time.sleep(0.05)
    time.sleep(0.05)  # the file is written in one call; let it land completely
    return process, json.loads(credentials.read_text())


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    output, errors = process.communicate(timeout=20)
    return process.returncode, output, errors


def test_serve_prints_and_writes_credentials_and_keeps_state(tmp_path: Path) -> None:
    credentials, state = tmp_path / "creds.json", tmp_path / "state.json"
    process, creds = _start(["--users", "8", "--seed", "3", "--state", str(state)], credentials)
    try:
        assert credentials.stat().st_mode & 0o777 == 0o600
        assert creds["api_url"] == creds["base_url"] + "/v2"
        assert creds["id_url"] == creds["base_url"]
        assert creds["env"]["HARVEST_ACCESS_TOKEN"] == creds["admin_token"]
        assert "HARVEST_RATE_LIMIT" not in creds["env"]  # Harvest's own limit: thresher's default
        headers = harvest_headers(creds["admin_token"], creds["account_id"])
        with httpx.Client(base_url=creds["api_url"] + "/", headers=headers, timeout=10) as client:
            assert len(client.get("users").json()["users"]) == 8
            created = client.post(
                "users", json={"first_name": "Cli", "last_name": "User", "email": "cli@example.com"}
            )
            assert created.status_code == 201
            manager = client.get("users/me", headers={"Authorization": f"Bearer {creds['manager_token']}"})
            assert "people_manager" in manager.json()["access_roles"]
        accounts = httpx.get(f"{creds['id_url']}/api/v2/accounts", headers=headers).json()
        assert accounts["accounts"][0]["id"] == creds["account_id"]
    finally:
        code, output, errors = _stop(process)
    assert code == 0, errors
    assert f"export HARVEST_BASE_URL={creds['api_url']}" in output
    assert creds["admin_token"] in output
    assert creds["oauth_client_secret"] in output

    process, again = _start(["--users", "8", "--seed", "3", "--state", str(state)], credentials)
    try:
        headers = harvest_headers(again["admin_token"], again["account_id"])
        users = httpx.get(f"{again['api_url']}/users", headers=headers).json()["users"]
        assert "cli@example.com" in {u["email"] for u in users}
    finally:
        assert _stop(process)[0] == 0


def test_serve_help_and_bad_options() -> None:
    shown = subprocess.run(
        [*_SERVE, "--help"], capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "200"}
    )
    assert shown.returncode == 0
    assert "Example: thresher sandbox serve" in shown.stdout
    assert "429burst" in shown.stdout
    refused = subprocess.run(
        [*_SERVE, "--port", "0", "--rate-limit", "lots"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "rate limit" in refused.stderr
    assert "Traceback" not in refused.stderr


def _serve_options() -> set[str]:
    """Every flag ``thresher sandbox serve`` accepts (both halves of --x/--no-x)."""
    import typer.main

    from thresher.cli._app import app

    group: Any = typer.main.get_command(app)
    serve = group.commands["sandbox"].commands["serve"]
    return {name for param in serve.params for name in (*param.opts, *param.secondary_opts)}


def test_every_runtime_setting_has_a_flag_named_after_it() -> None:
    options = _serve_options()
    missing = [name for name in RUNTIME_SETTINGS if "--" + name.replace("_", "-") not in options]
    assert missing == []
    assert {"--faults", "--clock-offset"} <= options  # PUT /sandbox/faults and /sandbox/clock


def test_serve_flags_reach_the_settings(tmp_path: Path) -> None:
    flags = {
        "--rate-limit": "100/1.5s", "--reports-rate-limit": "10/1min", "--rate-limit-scope": "token",
        "--rate-limit-window": "fixed", "--time-scale": "0.5", "--latency-ms": "1",
        "--token-ttl-seconds": "60", "--refresh-token-ttl-seconds": "120",
        "--authorization-code-ttl-seconds": "30", "--seat-limit": "40",
        "--duplicate-email-message": "Taken: {email}", "--forbidden-message": "Nope.",
        "--default-new-user-rate": "55.5", "--max-body-bytes": "5000", "--outbox-size": "3",
        "--request-log-size": "7", "--clock-offset": "3600",
    }
    switches = ["--rotate-refresh-tokens", "--implicit-grant-in-query", "--rename-while-restoring",
                "--no-create-unknown-roles"]
    args = [*(part for pair in flags.items() for part in pair), *switches]
    process, creds = _start(["--users", "5", *args], tmp_path / "creds.json")
    try:
        control = {"Authorization": f"Bearer {creds['control_token']}"}
        settings = httpx.get(f"{creds['base_url']}/sandbox/settings", headers=control).json()
        clock = httpx.get(f"{creds['base_url']}/sandbox/clock", headers=control).json()
    finally:
        code, output, _ = _stop(process)
    assert code == 0
    # thresher paces at the sandbox's limit, time scale applied, with the variable it prints.
    assert creds["env"]["HARVEST_RATE_LIMIT"] == "100/0.75s"
    assert "export HARVEST_RATE_LIMIT=100/0.75s" in output
    assert settings == {
        "rate_limit": "100/1.5s", "reports_rate_limit": "10/1min", "rate_limit_scope": "token",
        "rate_limit_window": "fixed", "time_scale": 0.5, "latency_ms": 1.0, "token_ttl_seconds": 60,
        "refresh_token_ttl_seconds": 120, "authorization_code_ttl_seconds": 30, "seat_limit": 40,
        "duplicate_email_message": "Taken: {email}", "forbidden_message": "Nope.",
        "default_new_user_rate": 55.5, "max_body_bytes": 5000, "outbox_size": 3, "request_log_size": 7,
        "rotate_refresh_tokens": True, "implicit_grant_in_query": True, "rename_while_restoring": True,
        "create_unknown_roles": False,
    }
    assert clock["offset_seconds"] == 3600


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--outbox-size", "-1"], "--outbox-size"),
        (["--max-body-bytes", "0"], "--max-body-bytes"),
        (["--rate-limit-scope", "user"], "--rate-limit-scope"),
        (["--reports-rate-limit", "lots"], "rate limit"),
        (["--duplicate-email-message", "taken"], "duplicate_email_message"),
        (["--time-scale", "nan"], "--time-scale"),
        (["--clock-offset", "nan"], "--clock-offset"),
        (["--clock-offset", "1e300"], "--clock-offset"),
        (["--seat-limit", "0"], "--seat-limit"),
    ],
)
def test_serve_refuses_values_the_sandbox_cannot_use(args: list[str], named: str) -> None:
    refused = subprocess.run(
        [*_SERVE, "--port", "0", "--users", "3", *args], capture_output=True, text=True, check=False,
        env={**os.environ, "COLUMNS": "200"}, timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert named in refused.stderr
    assert "Traceback" not in refused.stderr


_FIDELITY = [sys.executable, "-c", "from thresher.cli import main; main()", "sandbox", "fidelity"]


def test_fidelity_report_as_json_rows_and_markdown() -> None:
    from thresher.sandbox import fidelity_report

    report = fidelity_report()
    shown = subprocess.run([*_FIDELITY, "--json"], capture_output=True, text=True, check=True, timeout=60)
    document = json.loads(shown.stdout)
    assert [b["name"] for b in document["behaviours"]] == [b.name for b in report.behaviours]
    users = next(b for b in document["behaviours"] if b["name"] == "GET /v2/users")
    assert (users["source"], users["mark"]) == ("docs/harvest-api.md §6.4", "C")
    assert "tests/sandbox/test_sandbox_conformance.py::test_list_users_cursor_mode" in users["tests"]
    assert {d["key"] for d in document["deviations"]} >= {"page-null", "delete-body"}
    piped = subprocess.run(_FIDELITY, capture_output=True, text=True, check=True, timeout=60).stdout
    lines = piped.splitlines()
    assert lines[0] == "behaviour\twhat\tsource\tmark\ttests\tdeviation"
    assert len(lines) == 1 + len(report.behaviours)
    assert all(line.count("\t") == 5 for line in lines)
    page = Path(__file__).resolve().parents[2] / "docs" / "sandbox-fidelity.md"
    markdown = subprocess.run(
        [*_FIDELITY, "--markdown"], capture_output=True, text=True, check=True, timeout=60
    )
    assert markdown.stdout == page.read_text(encoding="utf-8")
    both = subprocess.run([*_FIDELITY, "--markdown", "--json"], capture_output=True, text=True, check=False)
    assert both.returncode == 2
    assert "Traceback" not in both.stderr
    helped = subprocess.run([*_FIDELITY, "--help"], capture_output=True, text=True, check=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert "Example: thresher sandbox fidelity --json" in helped.stdout
