"""Lists for people and for pipes, and filters that say what is wrong.

A mirror of 200 users with long emails is written through the store's own API (no Harvest needed:
``users list`` reads only the mirror), then the real CLI runs as a subprocess with a pipe for stdout,
as ``thresher users list | cat`` would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from thresher.cli import main
from thresher.harvest import Role, User
from thresher.store import Store

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ACCOUNT = 424242


def _email(i: int) -> str:
    return f"maximiliana.theodora.vandenberghe-oppenheimer.{i:03d}@subsidiary.example-corporation.com"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store of 200 users under the ``env`` connection, and the environment that selects it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('mirror') / 'thresher.db'}"
    users = [
        User.model_validate({
            "id": 1000 + i,
            "first_name": f"Maximiliana-Theodora {i}",
            "last_name": "Vandenberghe-Oppenheimer",
            "email": _email(i),
            "access_roles": (["manager", "project_creator"] if i % 2 else ["member"])
            + (["people_manager"] if i == 1 else []),
            "roles": ["Engineering"] if i % 3 == 0 else ["Platform Reliability"],
            "is_active": i % 10 != 0,
            "default_hourly_rate": "150.0",
            "created_at": NOW,
            "updated_at": NOW + dt.timedelta(minutes=i % 7),
        })
        for i in range(200)
    ]
    roles = [
        Role(id=1, name="Engineering", user_ids=[u.id for u in users if "Engineering" in u.roles],
             created_at=NOW, updated_at=NOW),
        Role(id=2, name="Platform Reliability", created_at=NOW, updated_at=NOW,
             user_ids=[u.id for u in users if "Platform Reliability" in u.roles]),
    ]
    with Store.open(url) as store:
        conn = store.add_connection("env", account_id=ACCOUNT)
        with store.transaction() as tx:  # as a sync writes them
            tx.apply_users(conn.id, users, observed_at=NOW)
            tx.apply_roles(conn.id, roles, observed_at=NOW)
            tx.set_teammates(conn.id, 1001, [1002, 1004], observed_at=NOW)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
    return {
        **inherited,
        "HARVEST_ACCESS_TOKEN": "not-used-by-reads",
        "HARVEST_ACCOUNT_ID": str(ACCOUNT),
        "HARVEST_USER_AGENT": "thresher-tests (tests@example.com)",
        "THRESHER_DATABASE_URL": url,
    }


def thresher(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``thresher ARGS | cat``: stdout is a pipe, not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "thresher", *args], env=env, capture_output=True,
        stdin=subprocess.DEVNULL, text=True, timeout=120, check=False,
    )


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def in_mirror(mirror: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID", "HARVEST_USER_AGENT", "THRESHER_DATABASE_URL"):
        monkeypatch.setenv(key, mirror[key])


def test_piped_output_is_plain_rows_with_every_email_whole(mirror: dict[str, str]) -> None:
    done = thresher(mirror, "users", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "id\tname\temail\taccess\troles\tstatus"
    assert len(lines) == 201
    assert [line.split("\t")[2] for line in lines[1:]] == [_email(i) for i in range(200)]
    assert not any(c in done.stdout for c in "┃│━─…")


def test_a_table_at_80_columns_keeps_every_email_and_id_whole(mirror: dict[str, str]) -> None:
    done = thresher({**mirror, "COLUMNS": "80"}, "users", "list", "--format", "table")
    assert done.returncode == 0, done.stderr
    assert "┃" in done.stdout
    for i in range(200):
        assert _email(i) in done.stdout
        assert f" {1000 + i} " in done.stdout
    assert "…" not in done.stdout
    assert done.stdout.rstrip().endswith("200 user(s)")


def test_plain_json_and_jsonl_formats(in_mirror: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["users", "list", "--format", "plain"], capsys)
    assert code == 0
    assert all(_email(i) in out for i in range(200))
    code, out, _ = run(["users", "list", "--format", "jsonl", "--limit", "3"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == [1000, 1001, 1002]
    assert records[1]["default_hourly_rate"] == "150"
    assert records[0]["created_at"] == "2026-01-02T03:04:05Z"
    code, out, _ = run(["users", "list", "--json", "--limit", "2"], capsys)
    assert [r["id"] for r in json.loads(out)] == [1000, 1001]
    code, _, err = run(["users", "list", "--json", "--format", "plain"], capsys)
    assert code == 2
    assert "--json contradicts --format plain" in err


def test_limit_sort_and_filters(in_mirror: None, capsys: pytest.CaptureFixture[str]) -> None:
    def ids(*args: str) -> list[int]:
        code, out, err = run(["users", "list", "--json", *args], capsys)
        assert code == 0, err
        return [u["id"] for u in json.loads(out)]

    assert ids("--sort", "email", "--limit", "2") == [1000, 1001]
    newest = ids("--sort", "updated", "--limit", "3")
    assert newest == [1006, 1013, 1020]  # updated 6 minutes after the others, then by id
    assert ids("--role", "engineering", "--limit", "2") == [1000, 1003]
    assert ids("--role", "ENGINEERING") == ids("--role", "Engineering")
    assert len(ids("--access-role", "Manager")) == 100
    assert ids("--archived", "--limit", "2") == [1000, 1010]
    assert 1000 not in ids("--active")

    code, _, err = run(["users", "list", "--access-role", "superuser"], capsys)
    assert code == 2
    assert "'superuser' is not a Harvest access role" in err
    assert "administrator, manager, member" in err
    code, _, err = run(["users", "list", "--active", "--archived"], capsys)
    assert code == 2
    assert "--active and --archived exclude each other" in err
    code, _, err = run(["users", "list", "--sort", "salary"], capsys)
    assert code == 2
    assert "--sort" in err
    assert "Unexpected error" not in err


def test_read_commands_never_create_a_store(
    tmp_path: Path, in_mirror: None, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    for argv in (["users", "list"], ["users", "show", "ada@example.com"], ["roles", "list"]):
        code, _, err = run([*argv, "--database-url", f"sqlite:///{missing}"], capsys)
        assert code != 0
        assert f"there is no store at {missing}" in err
        assert "thresher sync" in err
        assert "thresher login" in err
        assert not missing.exists()


def test_users_show_reads_as_people_read(in_mirror: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["users", "show", _email(1), "--offline"], capsys)
    assert code == 0, err
    assert "Decimal(" not in out
    assert "['" not in out
    assert "billable rate        150 per hour" in out
    assert "access roles         manager, project_creator, people_manager" in out
    assert f"teammates            Maximiliana-Theodora 2 Vandenberghe-Oppenheimer <{_email(2)}>" in out
    assert f"<{_email(4)}> (id 1004)" in out
    assert "roles                Platform Reliability" in out
    assert "status               active" in out
    assert "projects             (not read: --offline)" in out
    code, out, _ = run(["users", "show", "1010", "--offline"], capsys)
    assert "status               archived" in out
    code, out, _ = run(["users", "show", "1002", "--offline"], capsys)
    assert f"manager              Maximiliana-Theodora 1 Vandenberghe-Oppenheimer <{_email(1)}>" in out
