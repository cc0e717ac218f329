"""Per-connection configuration, the connections API, pausing on refused credentials, the
multi-account sandbox, and the commands around the workers (``connections config``, ``jobs``,
``serve --no-background``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from thresher.cli import main
from thresher.jobs import (
    Jobs,
    JobsConfigError,
    JobsSettings,
    configure_connection,
    create_connection,
    delete_connection,
    list_managed,
    pause_connection,
    queue_status,
    resume_connection,
)
from thresher.jobs._runs import Runner
from thresher.sandbox import MultiSandbox, Sandbox, SandboxConfig
from thresher.store import ConnectionSettingsStore, InvalidArgumentError, ServeRecords, Store

from .conftest import SECRET_KEY, USER_AGENT

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    code = 0
    with runner.isolation(env={**env, "COLUMNS": "200"}) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)


def test_settings_default_until_set_then_pause_and_resume(store: Store) -> None:
    conn = store.add_connection("acme", 123)
    configs = ConnectionSettingsStore(store)
    assert configs.get(conn.id).interval_s == 60.0
    assert configs.all() == {}
    changed = configs.update(conn.id, now=NOW, interval_s=30, teammates="off", scim_delete_mode="delete")
    assert (changed.interval_s, changed.teammates, changed.scim_delete_mode) == (30, "off", "delete")
    paused = configs.pause(conn.id, "credentials refused", now=NOW)
    assert paused.paused
    assert paused.paused_reason == "credentials refused"
    assert paused.paused_at == NOW
    resumed = configs.resume(conn.id, now=NOW)
    assert not resumed.paused
    assert resumed.paused_reason is None
    assert resumed.interval_s == 30
    with pytest.raises(InvalidArgumentError, match="teammates must be one of"):
        configs.update(conn.id, now=NOW, teammates="some")
    with pytest.raises(InvalidArgumentError, match="positive"):
        configs.update(conn.id, now=NOW, interval_s=0)
    # A run pushes its connection's next due time out, never in.
    records = ServeRecords(store)
    records.ensure_schedule(conn.id, "sync", due_at=NOW)
    assert configs.postpone(conn.id, "sync", due_at=NOW + dt.timedelta(seconds=50))
    assert not configs.postpone(conn.id, "sync", due_at=NOW + dt.timedelta(seconds=10))
    assert records.schedules()[(conn.id, "sync")] == NOW + dt.timedelta(seconds=50)
    # A pass claims every due row in one statement; a row claimed once is not claimed again.
    later = NOW + dt.timedelta(seconds=60)
    again = later + dt.timedelta(seconds=49)
    assert configs.claim_due([conn.id], "sync", "w:1", now=later, next_due=again) == [conn.id]
    assert configs.claim_due([conn.id], "sync", "w:2", now=later, next_due=later) == []
    store.remove_connection("acme")
    assert configs.all() == {}  # removed with its connection


def test_connections_made_by_a_program_listed_paused_and_deleted(store: Store) -> None:
    made = create_connection(
        store, "customer-1", account_id=42, token="42.pt.secret", base_url="http://127.0.0.1:9/v2",
        user_agent=USER_AGENT, interval_s=120, reconcile_s=7200,
    )
    assert made.settings.interval_s == 120
    assert made.connection.credentials_ref is not None
    assert "42.pt.secret" not in json.dumps(made.as_dict())
    assert "42.pt.secret" not in store.get_connection("customer-1").credentials_ref  # type: ignore[operator]
    pause_connection(store, "customer-1", "customer left")
    (listed,) = list_managed(store)
    assert listed.settings.paused_reason == "customer left"
    assert resume_connection(store, "customer-1").settings.paused is False
    assert configure_connection(store, "customer-1", teammates="all").settings.teammates == "all"
    delete_connection(store, "customer-1")
    assert list_managed(store) == []
    with pytest.raises(ValueError, match="exactly one"):
        create_connection(store, "x", account_id=1)


def test_refused_credentials_pause_the_connection_instead_of_retrying(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit=None))
    creds = sandbox.credentials
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        create_connection(
            store, "revoked", account_id=creds.account_id, token=f"{creds.account_id}.pt.NoLongerValid",
            base_url="http://sandbox/v2", user_agent=USER_AGENT,
        )
        connection = store.get_connection("revoked")
        runner = Runner(store, JobsSettings(), transport=httpx.ASGITransport(app=sandbox.app))
        first = asyncio.run(runner.sync(connection.id, tag="t.1"))
        assert first.outcome == "paused"
        config = ConnectionSettingsStore(store).get(connection.id)
        assert config.paused
        assert config.paused_reason is not None
        assert "refused its credentials" in config.paused_reason
        assert "NoLongerValid" not in config.paused_reason  # never the token
        again = asyncio.run(runner.sync(connection.id, tag="t.2"))
        assert again.outcome == "skipped"
        # Asked once (the client does not retry a 401), then left alone.
        assert [r.status for r in sandbox.state.request_log] == [401]


def test_the_multi_account_sandbox_routes_each_account_to_its_own_data() -> None:
    multi = MultiSandbox(3, SandboxConfig(users=4, rate_limit=None))
    ids = [s.credentials.account_id for s in multi.sandboxes]
    assert len(set(ids)) == 3

    async def me(sandbox: Sandbox, account: int) -> httpx.Response:
        transport = httpx.ASGITransport(app=multi.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            return await http.get("/v2/users/me", headers={
                "Authorization": f"Bearer {sandbox.credentials.admin_token}",
                "Harvest-Account-Id": str(account), "User-Agent": USER_AGENT,
            })

    for sandbox in multi.sandboxes:
        answer = asyncio.run(me(sandbox, sandbox.credentials.account_id))
        assert answer.status_code == 200
        assert answer.json()["id"] in sandbox.state.users
        assert len(sandbox.state.request_log) == 1
    # Another account's token is refused, as Harvest does.
    assert asyncio.run(me(multi.sandboxes[0], ids[1])).status_code == 401
    with pytest.raises(Exception, match="derived per account"):
        MultiSandbox(2, dataclasses.replace(SandboxConfig(), admin_token="x"))


def test_sandbox_serve_accounts_refuses_a_state_file(tmp_path: Path) -> None:
    code, _, err = _cli({}, "sandbox", "serve", "--accounts", "3", "--state", str(tmp_path / "s.json"))
    assert code == 2
    assert "--state cannot be combined with --accounts" in err


def test_connections_config_shows_and_changes_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Store.open(url) as store:
        store.add_connection("acme", 7)
    env = {"THRESHER_DATABASE_URL": url, "THRESHER_SECRET_KEY": SECRET_KEY}
    code, out, _ = _cli(env, "connections", "config", "acme", "--interval", "30", "--pause", "--reason",
                        "migrating", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["interval_s"], shown["paused"], shown["paused_reason"]) == (30.0, True, "migrating")
    code, out, _ = _cli(env, "connections", "config", "acme", "--resume")
    assert code == 0
    assert "acme: active; sync every 30 s" in out
    code, _, err = _cli(env, "connections", "config", "acme", "--teammates", "some")
    assert code == 2
    assert "teammates must be one of" in err
    code, _, err = _cli(env, "connections", "config", "nobody")
    assert code != 0
    assert "Traceback" not in err


def test_jobs_needs_postgresql(tmp_path: Path) -> None:
    code, _, err = _cli({"THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}, "jobs")
    assert code == 78
    assert "PostgreSQL" in err
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store, pytest.raises(JobsConfigError):
        Jobs(store)


@pytest.mark.postgres
def test_a_sync_is_queued_once_and_jobs_shows_it(jobs_database_url: str) -> None:
    with Store.open(jobs_database_url) as store:
        conn = store.add_connection("acme", 7)
        store.add_connection("quiet", 8)
        pause_connection(store, "quiet", "on hold")

        async def defer() -> list[int | None]:
            async with Jobs(store) as jobs:
                return [await jobs.defer_sync(conn.id), await jobs.defer_sync(conn.id)]

        first, second = asyncio.run(defer())
        assert first is not None
        assert second is None  # its queueing lock: one waiting sync per connection
        status = queue_status(store)
        assert status.total("todo") == 1
        by_name = {c.name: c for c in status.connections}
        assert by_name["acme"].queued == 1
        assert by_name["quiet"].paused_reason == "on hold"
    env = {"THRESHER_DATABASE_URL": jobs_database_url}
    code, out, _ = _cli(env, "jobs", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["queued"] == 1
    assert data["queues"] == {"sync": {"todo": 1}}
    code, out, _ = _cli(env, "jobs")
    assert code == 0
    assert out.splitlines()[0].split("\t")[:2] == ["connection", "queued"]  # plain rows when piped


def test_serve_without_background_work_leaves_syncs_to_the_workers(tmp_path: Path) -> None:
    from thresher.serve import ServeSettings, Service

    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        names = {c.name: c.task is not None for c in Service(ServeSettings(), store).components}
        assert names["scheduler"]
        assert "token-refresh" in names
        assert names["webhooks"]  # the in-process dispatcher delivers
        quiet = Service(ServeSettings(background=False), store)
        names = {c.name: c.task is not None for c in quiet.components}
        # Readiness still checks freshness (the workers record their runs in the same table).
        assert names["scheduler"] is False
        assert next(c for c in quiet.components if c.name == "scheduler").health is not None
        assert "token-refresh" not in names
        assert "headroom" not in names
        # The workers deliver webhooks (queue ``webhooks``): no dispatcher beside them.
        assert "webhooks" not in names


def test_a_submitted_roster_apply_syncs_checks_and_applies(tmp_path: Path) -> None:
    from thresher.provision import load_roster, make_plan, save_plan

    sandbox = Sandbox(SandboxConfig(users=5, rate_limit=None))
    creds = sandbox.credentials
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        create_connection(
            store, "acme", account_id=creds.account_id, token=creds.admin_token,
            base_url="http://sandbox/v2", user_agent=USER_AGENT,
        )
        connection = store.get_connection("acme")
        runner = Runner(store, JobsSettings(), transport=httpx.ASGITransport(app=sandbox.app))
        assert asyncio.run(runner.sync(connection.id, tag="s.1")).outcome == "ok"
        roster = tmp_path / "roster.csv"
        roster.write_text("email,first_name,last_name\nnew.hire@example.com,New,Hire\n", encoding="utf-8")
        plan = make_plan(store, connection.id, load_roster(roster, store, connection.id))
        saved = tmp_path / "plan.json"
        save_plan(saved, plan, store, connection, source=str(roster))
        done = asyncio.run(runner.apply(connection.id, str(saved), tag="a.1"))
        assert done.get("create") == 1
        assert any(u.email == "new.hire@example.com" for u in sandbox.state.users.values())
        assert store.find_user_by_email(connection.id, "new.hire@example.com") is not None
