"""The data generator, snapshots, and persistence with ``state_file``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from conftest import harvest_headers
from thresher.harvest._access_roles import validate_access_roles
from thresher.harvest._timezones import HARVEST_TIMEZONES
from thresher.sandbox import Sandbox, SandboxConfig, SandboxConfigError, SandboxStateError, run_sandbox


def test_generator_is_deterministic() -> None:
    assert (
        Sandbox(SandboxConfig(users=300, seed=4)).snapshot()
        == Sandbox(SandboxConfig(users=300, seed=4)).snapshot()
    )
    assert (
        Sandbox(SandboxConfig(users=300, seed=4)).snapshot()
        != Sandbox(SandboxConfig(users=300, seed=5)).snapshot()
    )
    a, b = Sandbox(SandboxConfig(seed=4)), Sandbox(SandboxConfig(seed=4))
    assert a.credentials == b.credentials
    assert a.credentials != Sandbox(SandboxConfig(seed=5)).credentials


def test_generated_account_is_realistic() -> None:
    sandbox = Sandbox(SandboxConfig(users=2000, seed=2))
    state = sandbox.state
    users = list(state.users.values())
    emails = [u.email.casefold() for u in users]
    assert len(set(emails)) == len(emails)
    assert all(u.timezone in HARVEST_TIMEZONES for u in users)
    assert len({u.timezone for u in users}) > 12
    for user in users:
        assert validate_access_roles(user.access_roles) == user.access_roles
    bases = Counter(u.access_roles[0] for u in users)
    assert 0 < bases["administrator"] < bases["manager"] < bases["member"]
    assert any(len(u.access_roles) > 1 for u in users)  # managers with add-ons
    assert len(state.teammates) > 10
    assert all(state.users[m].access_roles[0] == "manager" for m in state.teammates)
    assert len(state.roles) > 4
    assert 0.25 < len(state.time_entries) / len(users) < 0.55
    assert 0 < sum(not u.is_active for u in users) < len(users) * 0.2
    assert any(u.default_hourly_rate is None for u in users)  # gotcha 11
    assert any(len(rates) > 1 for rates in state.billable_rates.values())
    assert len(state.projects) >= 3
    assert len(state.user_assignments) >= len(users)
    creds = sandbox.credentials
    admin, manager, member = (
        sandbox.user_for_token(t) for t in (creds.admin_token, creds.manager_token, creds.member_token)
    )
    assert admin is not None
    assert manager is not None
    assert member is not None
    assert (admin.access_roles[0], manager.access_roles[0], member.access_roles[0]) == (
        "administrator",
        "manager",
        "member",
    )
    assert member.id in state.teammates[manager.id]
    assert all(state.time_entries.get(u.id) for u in (admin, manager, member))


def test_config_validation() -> None:
    assert SandboxConfig.parse_rate_limit("100/15s") == (100, 15.0)
    assert SandboxConfig.parse_rate_limit("100/1.5s") == (100, 1.5)
    assert SandboxConfig.parse_rate_limit("100/15min") == (100, 900.0)
    assert SandboxConfig.parse_rate_limit("5/200ms") == (5, 0.2)
    assert SandboxConfig.parse_rate_limit("off") is None
    assert SandboxConfig(rate_limit="100/15s", time_scale=0.1).rate_limit_rule == (100, 1.5)
    for bad in ("100", "x/15s", "0/15s", "100/0s", "100/15parsecs"):
        with pytest.raises(SandboxConfigError):
            SandboxConfig.parse_rate_limit(bad)
    for kwargs in (
        {"users": 2},
        {"time_scale": 0},
        {"seat_limit": 0},
        {"company_timezone": "UTC+1"},
        {"duplicate_email_message": "taken"},
        {"rate_limit_scope": "user"},
    ):
        with pytest.raises(SandboxConfigError):
            SandboxConfig(**kwargs)


def test_snapshot_restore_in_process() -> None:
    sandbox = Sandbox(SandboxConfig(users=10))
    snapshot = sandbox.snapshot()
    project, _ = sandbox.create_project("Temp")
    sandbox.set_clock_offset(3600)
    sandbox.restore(snapshot)
    assert project.id not in sandbox.state.projects
    assert sandbox.clock.offset == 0
    assert sandbox.snapshot() == snapshot


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    config = SandboxConfig(users=12, seed=8, state_file=path)
    sandbox = Sandbox(config)
    assert path.exists()  # written at start when new
    creds = sandbox.credentials
    with (
        run_sandbox(sandbox) as running,
        httpx.Client(
            base_url=running.base_url, headers=harvest_headers(creds.admin_token, creds.account_id)
        ) as client,
    ):
        created = client.post(
            "/v2/users", json={"first_name": "Keep", "last_name": "Me", "email": "keep@example.com"}
        )
        assert created.status_code == 201
        client.post("/v2/roles", json={"name": "Persisted", "user_ids": [created.json()["id"]]})
    # Shut down: the lifespan wrote the changes.
    restarted = Sandbox(config)
    user = restarted.state.users[created.json()["id"]]
    assert (user.email, restarted.state.role_names(user.id)) == ("keep@example.com", ["Persisted"])
    assert [i.to for i in restarted.state.outbox] == ["keep@example.com"]
    assert restarted.snapshot() == sandbox.snapshot()


def test_save_and_load_explicitly(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxConfig(users=6))
    sandbox.add_time_entry(next(iter(sandbox.state.users)))
    target = sandbox.save(tmp_path / "nested" / "copy.json")
    other = Sandbox(SandboxConfig(users=6, seed=99))
    other.load(target)
    assert other.snapshot() == sandbox.snapshot()
    with pytest.raises(SandboxStateError):
        Sandbox(SandboxConfig(users=6)).save()  # no state_file configured


@pytest.mark.parametrize(
    "content", [b"{", b"[]", b'{"format": "thresher-sandbox-state/1"}', b'{"format": "v0"}']
)
def test_unreadable_state_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(SandboxStateError) as raised:
        Sandbox(SandboxConfig(state_file=path))
    assert raised.value.hint
