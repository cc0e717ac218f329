"""``thresher webhooks ...`` end to end: every command, its --json, exit codes and confirmations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from thresher.cli import main
from thresher.store import Store

from .receiver import Receiver, Reply

SECRET_KEY = "webhook-cli-tests-passphrase"


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'thresher.db'}"
        self.env = {"THRESHER_DATABASE_URL": self.url, "THRESHER_SECRET_KEY": SECRET_KEY, "COLUMNS": "200"}

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        runner = CliRunner()
        exit_code = 0
        with runner.isolation(env=self.env) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exc:
                exit_code = exc.code if isinstance(exc.code, int) else 1
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        assert exit_code == code, f"thresher {' '.join(args)} exited {exit_code}:\n{stdout}\n{stderr}"
        return stdout, stderr

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json")[0])


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def test_subscriptions_from_add_to_remove(run: Run, receiver: Receiver) -> None:
    added = run.json(
        "webhooks",
        "add",
        receiver.url,
        "--allow-private-targets",
        "-e",
        "user.*",
        "--email-domain",
        "example.com",
        "-d",
        "HR system",
    )
    secret = added["secret"]
    assert secret.startswith("whsec_")
    assert added["filters"] == {"email_domain": "example.com"}
    listed = run.json("webhooks", "list")
    assert [s["id"] for s in listed] == [added["id"]]
    assert "secret" not in listed[0]
    sid = str(added["id"])
    assert secret not in run("webhooks", "list")[0]

    tested = run.json("webhooks", "test", sid)
    assert tested["ok"] is True
    [request] = receiver.delivered()
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"

    rotated = run.json("webhooks", "rotate-secret", sid)["secret"]
    run("webhooks", "test", sid)
    signed_twice = receiver.delivered()[-1]
    assert len(signed_twice.headers["webhook-signature"].split()) == 2  # both, while receivers switch
    Webhook(rotated).verify(signed_twice.body, signed_twice.headers)
    Webhook(secret).verify(signed_twice.body, signed_twice.headers)

    updated = run.json("webhooks", "update", sid, "--disable", "--email-domain", "", "-e", "*")
    assert (updated["enabled"], updated["filters"], updated["events"]) == (False, {}, ["*"])
    shown = run.json("webhooks", "show", sid)
    assert shown["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}

    _, err = run("webhooks", "remove", sid, code=2)  # no terminal to confirm on, and no --yes
    assert "--yes" in err
    assert run.json("webhooks", "remove", sid, "--yes") == {"removed": added["id"]}
    _, err = run("webhooks", "show", sid, code=65)
    assert "no webhook subscription" in err


def test_refusals_are_one_clear_sentence(run: Run) -> None:
    _, err = run("webhooks", "add", "http://example.com/x", code=65)
    assert "https" in err
    assert "Traceback" not in err
    _, err = run("webhooks", "add", "https://10.0.0.8/x", code=65)
    assert "--allow-private-targets" in err
    _, err = run("webhooks", "add", "https://10.0.0.8/x", "--allow-private-targets", "-e", "nope", code=65)
    assert "unknown event type 'nope'" in err


def test_deliveries_redeliver_and_replay(run: Run, receiver: Receiver) -> None:
    from store.factories import at, user_json
    from thresher.harvest import User

    with Store.open(run.url) as store:
        conn = store.add_connection("acme", 1001)
        with store.transaction() as tx:
            tx.apply_users(conn.id, [User.model_validate(user_json(i)) for i in (1, 2)], observed_at=at(0))
    first = run.json("webhooks", "add", receiver.url, "--allow-private-targets", "--from", "#0")
    assert first["replayed"] == 2  # the change log, replayed to a new subscription
    receiver.script.extend([Reply(500), Reply(500)])
    run("webhooks", "dispatch", "--until-idle")
    failed = run.json("webhooks", "deliveries", "--failed")
    assert len(failed) == 2
    assert {d["last_status"] for d in failed} == {500}
    assert all(d["next_attempt_at"] for d in failed)
    one = run.json("webhooks", "deliveries", "--id", str(failed[0]["id"]))
    assert one["attempt_log"][0]["response"].startswith("500")
    assert run.json("webhooks", "redeliver", str(failed[0]["id"]), str(failed[1]["id"])) == {"queued": 2}
    stats = run.json("webhooks", "dispatch", "--until-idle")
    assert stats["delivered"] == 2
    assert len(receiver.ids()) == 2
    assert run.json("webhooks", "replay", str(first["id"]), "--from", "#0") == {"queued": 2}
    assert run.json("webhooks", "redeliver", "--since", "1h")["queued"] == 4
    _, err = run("webhooks", "redeliver", code=2)
    assert "--since" in err


def test_slack_format_posts_a_readable_message(run: Run, receiver: Receiver) -> None:
    added = run.json("webhooks", "add", receiver.url, "--allow-private-targets", "--format", "slack")
    assert added["url"].endswith("/…")  # a Slack webhook URL is a secret itself
    from store.factories import at, user_json
    from thresher.harvest import User

    with Store.open(run.url) as store:
        conn = store.add_connection("acme", 1001)
        with store.transaction() as tx:
            tx.apply_users(conn.id, [User.model_validate(user_json(5))], observed_at=at(0))
        with store.transaction() as tx:
            tx.apply_users(conn.id, [User.model_validate(user_json(5, last_name="King"))], observed_at=at(1))
    run("webhooks", "dispatch", "--until-idle")
    texts = [r.payload()["text"] for r in receiver.delivered()]
    assert texts[0] == "*user.created* First5 Last5 &lt;user5@example.com&gt; (acme, via sync)"
    assert texts[1].splitlines()[1] == "• last_name: Last5 → King"
