"""``thresher serve`` as operators run it: a subprocess against the sandbox over real HTTP."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import httpx
import pytest

from thresher.sandbox import RunningSandbox
from thresher.store import ServeRecords, Store

from .conftest import ServeSetup, prepare, start_serve, wait_for


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_serve_answers_syncs_and_stops_on_sigterm(setup: ServeSetup) -> None:
    serve = start_serve(setup.env, "--sync-interval", "1", "--log-format", "json")
    try:
        with serve.client(setup.api_token) as api, serve.client() as anon:
            assert anon.get("/api/v1/status").status_code == 401
            ready = wait_for(lambda: anon.get("/readyz").status_code == 200, what="/readyz 200")
            assert ready
            status = api.get("/api/v1/status").json()
            (env,) = status["connections"]
            assert env["name"] == "env"
            assert env["health"] == "fresh"
            assert env["users"]["active"] > 0
            assert "scim" in status["components"]

            scim = anon.get(
                "/scim/v2/Users", params={"count": 5},
                headers={"Authorization": f"Bearer {setup.scim_token}"},
            )
            assert scim.status_code == 200, scim.text
            assert scim.json()["totalResults"] == env["users"]["active"] + env["users"]["archived"]
            assert anon.get("/scim/v2/Users").status_code == 401

            # A change made in Harvest reaches the feed, the API and /metrics within an interval.
            mark = api.get("/api/v1/changes", params={"after": 0, "limit": 500}).json()["next_after"]
            user_id = next(iter(setup.sandbox.state.users))
            headers = {
                "Authorization": f"Bearer {setup.sandbox.credentials.admin_token}",
                "Harvest-Account-Id": str(setup.sandbox.credentials.account_id),
                "User-Agent": "tests (tests@example.com)",
            }
            patched = httpx.patch(
                f"{setup.running.api_url}/users/{user_id}", json={"last_name": "Changed"}, headers=headers
            )
            assert patched.status_code == 200, patched.text

            def changed() -> list[dict[str, object]]:
                page = api.get("/api/v1/changes", params={"after": mark}).json()
                return [e for e in page["items"] if e["harvest_id"] == user_id and e["kind"] == "updated"]

            (event,) = wait_for(changed, timeout=60, what="the change in the feed")
            assert event["connection"] == "env"
            def counted() -> str | None:
                text = anon.get("/metrics").text
                return text if _metric(text, "thresher_change_events_total", kind="updated") >= 1 else None

            metrics = wait_for(counted, what="the change on /metrics")
            assert _metric(metrics, "thresher_sync_runs_total", connection="env", outcome="ok") >= 1
            assert _metric(metrics, "thresher_harvest_requests_total", route="/v2/users", status="200") >= 1
            assert _metric(metrics, "thresher_scim_requests_total", token="idp", status="200") == 1
            assert _metric(metrics, "thresher_scim_requests_total", token="(none)", status="401") == 1
            assert re.search(r"thresher_sync_lag_seconds\{connection=\"env\"\}", metrics)
            assert anon.get("/healthz").headers["x-request-id"]
    finally:
        code = serve.terminate(timeout=60)
    assert code == 0, serve.output
    assert "Traceback" not in serve.output
    assert setup.api_token not in serve.output
    assert setup.scim_token not in serve.output
    assert '"request_id"' in serve.output  # --log-format json
    with Store.open(setup.database_url) as store:
        runs = ServeRecords(store).recent_runs(limit=500)
    assert runs
    assert all(r.outcome != "running" for r in runs)


@pytest.mark.postgres
def test_two_serves_on_one_postgres_store_share_the_syncs(
    serve_sandbox: RunningSandbox, postgres_url: str
) -> None:
    setup = prepare(serve_sandbox, postgres_url)
    interval = 1.0
    first = start_serve(setup.env, "--sync-interval", str(interval))
    second = start_serve(setup.env, "--sync-interval", str(interval))
    try:
        with Store.open(postgres_url) as store:
            records = ServeRecords(store)
            wait_for(lambda: sum(r.outcome == "ok" for r in records.recent_runs(limit=500)) >= 8,
                     timeout=90, what="eight scheduled runs")
    finally:
        codes = (first.terminate(), second.terminate())
    assert codes == (0, 0), first.output + second.output
    with Store.open(postgres_url) as store:
        runs = sorted(ServeRecords(store).recent_runs(limit=500), key=lambda r: r.started_at)
    # One claim per due time, whichever process made it: consecutive runs start an interval
    # apart (never two for one slot), and each run listed the users once.
    starts = [r.started_at for r in runs]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= interval * 0.9, gaps
    assert {r.outcome for r in runs} <= {"ok"}, [(r.outcome, r.error) for r in runs]
    listings = setup.sandbox_requests("/v2/users")
    assert listings == len(runs), (listings, len(runs))


def test_a_bad_configuration_is_one_clear_error(tmp_path: Path, sqlite_url: str) -> None:
    import subprocess
    import sys

    config = tmp_path / "thresher.toml"
    config.write_text("[sync]\ninterval = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "thresher", "serve", "--config", str(config), "--database-url", sqlite_url],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 78, result.stderr
    assert "sync.interval" in result.stderr
    assert "Traceback" not in result.stderr
