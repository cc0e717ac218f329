"""``thresher api``: any Harvest request through the connection, like ``gh api``, against a sandbox
over HTTP. JSON out, Harvest's error body on stderr with an honest exit code, ``--paginate``
following ``links.next``, and no request to any other host."""

from __future__ import annotations

import json

from provision.conftest import UA, Cli


def _log(cli: Cli) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in cli.sandbox.state.request_log]


def test_get_prints_harvests_json(cli: Cli) -> None:
    me = json.loads(cli("api", "GET", "/v2/users/me").stdout)
    owner = cli.sandbox.state.users[me["id"]]
    assert me["email"] == owner.email
    assert me["access_roles"] == ["administrator"]
    assert json.loads(cli("api", "get", "users/me").stdout) == me  # path relative to the API
    [*_, last] = cli.sandbox.state.request_log
    assert (last.method, last.path, last.user_agent) == ("GET", "/v2/users/me", UA)
    assert last.account_id == str(cli.sandbox.credentials.account_id)


def test_paginate_follows_links_next_as_json_lines_or_one_array(cli: Cli) -> None:
    users = cli.sandbox.state.users
    before = len(_log(cli))
    lines = cli("api", "GET", "/v2/users", "--paginate", "--jsonl", "-f", "per_page=5").stdout
    records = [json.loads(line) for line in lines.splitlines()]
    assert sorted(r["id"] for r in records) == sorted(users)
    pages = [p for p in _log(cli)[before:] if p == ("GET", "/v2/users")]
    assert len(pages) == -(-len(users) // 5)  # every page once
    merged = json.loads(cli("api", "GET", "/v2/users", "--paginate", "-F", "per_page=5").stdout)
    assert merged == records
    active = json.loads(cli("api", "GET", "/v2/users", "--paginate", "-F", "is_active=true").stdout)
    assert {r["id"] for r in active} == {u.id for u in users.values() if u.is_active}
    empty = json.loads(cli("api", "GET", "/v2/roles", "--paginate", "-f", "page=999").stdout)
    assert empty == []


def test_writes_take_fields_or_a_json_body(cli: Cli) -> None:
    made = json.loads(cli(
        "api", "POST", "/v2/users", "-f", "email=grace@example.com", "-f", "first_name=Grace",
        "-f", "last_name=Hopper", "-f", "access_roles[]=manager", "-f", "access_roles[]=project_creator",
        "-F", "is_contractor=true",
    ).stdout)
    user = cli.sandbox.state.users[made["id"]]
    assert user.access_roles == ["manager", "project_creator"]
    assert user.is_contractor is True
    patched = cli("api", "PATCH", f"/v2/users/{made['id']}", "--input", "-",
                  input=json.dumps({"first_name": "Amazing Grace"}))
    assert json.loads(patched.stdout)["first_name"] == "Amazing Grace"
    assert cli.sandbox.state.users[made["id"]].first_name == "Amazing Grace"
    body = cli.tmp / "body.json"
    body.write_text(json.dumps({"is_active": False}))
    cli("api", "PATCH", f"/v2/users/{made['id']}", "--input", str(body))
    assert cli.sandbox.state.users[made["id"]].is_active is False


def test_a_refusal_prints_harvests_body_on_stderr_and_exits_honestly(cli: Cli) -> None:
    missing = cli("api", "GET", "/v2/users/1", ok=False)
    assert missing.exit_code == 65  # README "Exit codes": Harvest refused the input
    assert missing.stdout == ""
    assert json.loads(missing.stderr.splitlines()[0]) == {"status": 404, "error": "Not Found"}
    taken = cli.sandbox.state.users[min(cli.sandbox.state.users)].email
    duplicate = cli("api", "POST", "/v2/users", "-f", f"email={taken}", "-f", "first_name=A",
                    "-f", "last_name=B", ok=False)
    assert duplicate.exit_code == 65
    assert "has already been taken" in json.loads(duplicate.stderr.splitlines()[0])["message"]
    refused = cli("api", "GET", "/v2/users/me", env={"HARVEST_ACCESS_TOKEN": "1.pt.bogus-token"}, ok=False)
    assert refused.exit_code == 77
    assert "invalid_token" in refused.stderr
    assert "bogus-token" not in refused.stderr
    assert "Traceback" not in missing.stderr + duplicate.stderr + refused.stderr


def test_other_hosts_and_bad_command_lines_are_refused_with_2(cli: Cli) -> None:
    before = len(_log(cli))
    cases = [
        (["GET", "https://evil.example/v2/users/me"], "refusing to send the access token"),
        (["PUT", "/v2/users/1"], "Harvest has no PUT"),
        (["POST", "/v2/users", "--paginate"], "use it with GET"),
        (["GET", "/v2/users", "--jsonl"], "--jsonl goes with --paginate"),
        (["GET", "/v2/users", "-f", "is_active"], "is not key=value"),
        (["GET", "/v2/users", "-f", "ids[]=1"], "builds a JSON array"),
        (["POST", "/v2/users", "--input", "-"], "stdin is not JSON"),
        (["POST", "/v2/users", "--input", "/nonexistent/body.json"], "cannot read"),
    ]
    for argv, says in cases:
        result = cli("api", *argv, ok=False, input="{not json")
        assert result.exit_code == 2, (argv, result.stderr)
        assert says in result.stderr, (argv, result.stderr)
        assert "Unexpected error" not in result.stderr
    assert len(_log(cli)) == before  # nothing reached Harvest
    single = cli("api", "GET", "/v2/users/me", "--paginate", ok=False)
    assert single.exit_code == 1
    assert "not a page of a list endpoint" in single.stderr
