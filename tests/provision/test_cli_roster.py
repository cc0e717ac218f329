"""The declarative roster: plan, apply, re-apply, refusal, interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import Cli, ProviderCli

HEADER = (
    "email,first_name,last_name,access_roles,roles,weekly_capacity_hours,timezone,is_contractor,"
    "manager_email,billable_rate,cost_rate,active\n"
)


def _requests(cli: Cli) -> int:
    return len(cli.sandbox.state.request_log)


def _members(cli: Cli) -> list[tuple[int, str]]:
    state = cli.sandbox.state
    return [(u.id, u.email) for u in state.users.values() if u.is_active and u.access_roles == ["member"]]


def test_plan_apply_and_reapply(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    (x_id, x_email), (y_id, y_email) = _members(cli)[:2]
    y = cli.sandbox.state.users[y_id]
    x_capacity = cli.sandbox.state.users[x_id].weekly_capacity
    hours = 32 if x_capacity != 32 * 3600 else 31
    roster = tmp_path / "roster.csv"
    roster.write_text(
        HEADER
        + "lead@example.com,Lea,Dor,manager;project_creator,Crew,40,Europe/Paris,false,,,,\n"
        + "n1@example.com,Nia,One,member,Crew,,America/New_York,true,lead@example.com,120,60,\n"
        + "n2@example.com,Noa,Two,,,37.5,,,lead@example.com,,,\n"
        + f"{x_email},Xavier,Changed,,Crew,{hours},,,,,,\n"
        + f"{y_email},{y.first_name},{y.last_name},,,,,,,,,false\n"
    )
    # x's roles are managed by the file now: any other role of x loses x.
    x_roles = len([r for r in cli.sandbox.state.roles.values() if x_id in r.user_ids])
    before = _requests(cli)
    plan = cli.json("plan", str(roster))
    # Planning reads only the (fresh) mirror; the file archives someone, so the plan asks
    # Harvest once who owns the token (the env connection has not recorded it).
    asked = [(r.method, r.path) for r in list(cli.sandbox.state.request_log)[before:]]
    assert asked == [("GET", "/v2/users/me")]
    assert plan["mirror"]["refreshed"] is False
    expected = {"archive": 1, "create": 3, "role": 1 + x_roles, "teammates": 1, "update": 1}
    assert plan["counts"] == expected
    assert plan["invitations"] == 3
    update = next(c for c in plan["changes"] if c["action"] == "update")
    assert update["changes"]["last_name"]["to"] == "Changed"
    assert update["changes"]["weekly_capacity"] == {"from": x_capacity, "to": hours * 3600}
    shown = cli("plan", str(roster))  # piped: rows on stdout, the summary on stderr
    assert "3 invitation(s)" in shown.stderr
    assert "Changed" in shown.stdout

    outbox_before = len(cli.sandbox.state.outbox)
    applied = cli.json("apply", str(roster), "--yes")
    assert applied["applied"] == expected
    state = cli.sandbox.state
    by_email = cli.users_by_email()
    lead, n1 = by_email["lead@example.com"], by_email["n1@example.com"]
    assert sorted(state.teammates[lead.id]) == sorted([n1.id, by_email["n2@example.com"].id])
    assert "people_manager" in cli.json("users", "show", "lead@example.com")["access_roles"]
    assert n1.timezone == "Eastern Time (US & Canada)"
    assert n1.is_contractor
    assert float(n1.cost_rate) == 60.0
    crew = next(r for r in state.roles.values() if r.name == "Crew")
    assert sorted(crew.user_ids) == sorted([lead.id, n1.id, x_id])
    assert state.users[x_id].last_name == "Changed"
    assert not state.users[y_id].is_active
    assert len(state.outbox) - outbox_before == 3

    again = cli.json("apply", str(roster), "--yes")
    assert again["changes"] == []
    assert again["applied"] == {}
    assert "No changes" in cli("plan", str(roster)).stderr
    assert len(state.outbox) - outbox_before == 3


def test_plan_apply_and_reapply_the_columns_both_products_have(
    provider_cli: ProviderCli, tmp_path: Path
) -> None:
    # Harvest's whole column set is test_plan_apply_and_reapply's; this runs for a Harvest and a
    # Greenhouse connection (docs/greenhouse.md §6 "Roster"): names, active, creates.
    cli = provider_cli
    cli("sync")
    (rename, rename_email, _, rename_last), (leave, leave_email, leave_first, leave_last) = cli.active()[:2]
    back, back_email, back_first, back_last = cli.inactive()[0]
    roster = tmp_path / "roster.csv"
    roster.write_text(
        cli.header
        + "new.hire@example.com,New,Hire,,true\n"
        + f"{rename_email},Renamed,{rename_last},,\n"
        + f"{back_email},{back_first},{back_last},,true\n"
        + f"{leave_email},{leave_first},{leave_last},,false\n"
    )
    before, sent = cli.requests(), cli.emails_sent()
    plan = cli.json("plan", str(roster))
    assert cli.writes(before) == []  # planning reads the mirror (and asks who owns the token)
    expected = {"create": 1, "update": 1, cli.restore: 1, cli.archive: 1}
    assert plan["counts"] == expected
    applied = cli.json("apply", str(roster), "--yes")
    assert applied["applied"] == expected
    assert cli.user(rename) == ("Renamed", rename_last, True)
    assert cli.user(back)[2] is True
    assert cli.user(leave)[2] is False
    created = cli.users_by_email()["new.hire@example.com"]
    assert cli.user(created) == ("New", "Hire", True)
    assert cli.emails_sent() - sent == (1 if cli.invites else 0)
    # The mirror holds every answer: a re-plan and a re-apply find nothing to do, send nothing.
    again = cli.json("apply", str(roster), "--yes")
    assert again["changes"] == []
    assert again["applied"] == {}
    shown = cli("plan", str(roster))
    assert "No changes" in shown.stdout + shown.stderr
    assert cli.emails_sent() - sent == (1 if cli.invites else 0)


def test_prune_archives_missing_users_but_never_the_token_owner(
    provider_cli: ProviderCli, tmp_path: Path
) -> None:
    # Runs for a Harvest and a Greenhouse connection: the owner is the token's (Harvest) or the
    # sub the credential acts as (Greenhouse, docs/greenhouse.md §6 "Roster").
    cli = provider_cli
    cli("sync")
    roster = tmp_path / "roster.yaml"
    roster.write_text("users:\n  - email: only@example.com\n    first_name: Only\n    last_name: One\n")
    active_before = [uid for uid, *_ in cli.active()]
    plan = cli.json("plan", str(roster), "--prune", "--max-archive", "100")
    owner_email = next(e for e, uid in cli.users_by_email().items() if uid == cli.owner_id)
    # The owner is not listed at all, not even as a warning.
    assert owner_email not in cli("plan", str(roster), "--prune", "--max-archive", "100").stdout.casefold()
    assert owner_email not in {c["target"].casefold() for c in plan["changes"]}
    assert plan["warnings"] == []
    result = cli.json("apply", str(roster), "--yes", "--prune", "--max-archive", "100")
    assert result["warnings"] == []
    assert plan["counts"]["create"] == 1
    assert cli.active() == [(cli.users_by_email()["only@example.com"], "only@example.com", "Only", "One")]
    assert cli.is_active(cli.owner_id)
    assert len(active_before) == result["counts"][cli.archive]
    assert all(uid in cli.users_by_email().values() for uid in active_before)  # archived, never deleted


def test_a_bad_file_is_refused_whole_with_line_numbers(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    roster = tmp_path / "bad.csv"
    roster.write_text(
        HEADER
        + "ok@example.com,Ok,Fine,,,,,,,,,\n"
        + "not-an-email,A,B,,,,,,,,,\n"
        + "tz@example.com,T,Z,,,,Mars/Olympus,,,,,\n"
        + "r@example.com,R,R,member;project_creator,,,,,,,,\n"
        + "OK@example.com,Dup,Licate,,,,,,,,,\n"
        + "m@example.com,M,M,,,,,,boss@nowhere.example,,,\n"
    )
    before, outbox = _requests(cli), len(cli.sandbox.state.outbox)
    result = cli("apply", str(roster), "--yes", ok=False)
    assert result.exit_code == 2
    for fragment in ("line 3", "line 4", "line 5", "(and 2 more)"):
        assert fragment in result.stderr
    plan = cli("plan", str(roster), ok=False)
    assert plan.exit_code == 2
    assert _requests(cli) == before
    assert len(cli.sandbox.state.outbox) == outbox
    assert "ok@example.com" not in cli.users_by_email()


def test_an_apply_killed_midway_converges_without_duplicates(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    # Slow every request down so the kill lands in the middle of the creates.
    cli.sandbox.set_faults("delay:1@100ms")
    roster = tmp_path / "roster.csv"
    rows = "".join(f"p{i}@example.com,P{i},Person,,,,,,,,,\n" for i in range(40))
    roster.write_text(HEADER + rows)
    env = {**os.environ, **cli.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher", "apply", str(roster), "--yes"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # Bounded for a hung machine only: the loop ends when the fifth invitation is sent.
    deadline = time.monotonic() + 120
    while len(cli.sandbox.state.outbox) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    created_before = len(cli.sandbox.state.outbox)
    assert 0 < created_before < 40
    cli.sandbox.set_faults(None)

    cli("apply", str(roster), "--yes")
    emails = [u.email for u in cli.sandbox.state.users.values() if u.email.startswith("p")]
    assert sorted(emails) == sorted(f"p{i}@example.com" for i in range(40))
    invited = [m.to for m in cli.sandbox.state.outbox if m.to.startswith("p")]
    assert len(invited) == len(set(invited)) == 40  # one invitation each, never two
    assert cli.json("plan", str(roster))["changes"] == []


def test_apply_under_faults_sends_one_invitation_each(cli: Cli, tmp_path: Path) -> None:
    # Lost answers (the create happened, the client never heard), 5xx, dropped connections and
    # 429 bursts on every kind of request: the apply still converges, and nobody is invited twice.
    cli("sync")
    cli.sandbox.set_faults("lost:0.15,502:0.1,drop:0.05,429burst:0.03x2,seed=5")
    roster = tmp_path / "roster.csv"
    rows = "".join(f"f{i}@example.com,F{i},Faulty,,,,Europe/Oslo,,,,,\n" for i in range(25))
    roster.write_text(HEADER + rows)
    first = cli("apply", str(roster), "--yes", ok=False)
    # A run may stop on a fault it must not guess about (an ambiguous create it could not
    # resolve yet); the re-run, still under the same faults, finishes the work.
    for _ in range(5):
        if first.exit_code == 0 and not cli.json("plan", str(roster))["changes"]:
            break
        first = cli("apply", str(roster), "--yes", ok=False)
    cli.sandbox.set_faults(None)
    assert cli.json("plan", str(roster))["changes"] == []
    emails = [u.email for u in cli.sandbox.state.users.values() if u.email.startswith("f")]
    assert sorted(emails) == sorted(f"f{i}@example.com" for i in range(25))
    invited = [m.to for m in cli.sandbox.state.outbox if m.to.startswith("f")]
    assert len(invited) == len(set(invited)) == 25
    lost = [r for r in cli.sandbox.state.request_log if r.fault == "lost" and r.method == "POST"]
    assert lost, "the fault spec should have lost at least one create's answer"
