"""The ``connection.paused`` operations event: a worker that pauses a connection on refused
credentials tells the subscriptions that asked, once, with the reason and the fix, never the
token; the payload matches docs/webhook-event.schema.json."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest

from thresher.jobs import JobsSettings, create_connection
from thresher.jobs._runs import Runner
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store
from thresher.webhooks import DispatchSettings, WebhookService, run_dispatcher
from webhooks.receiver import serve_receiver, verify

from .conftest import SECRET_KEY, USER_AGENT

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "webhook-event.schema.json"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)


def test_a_paused_connection_is_announced_once_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxConfig(users=3, rate_limit=None))
    creds = sandbox.credentials
    token = f"{creds.account_id}.pt.NoLongerValid"
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store, serve_receiver() as receiver:
        create_connection(
            store, "revoked", account_id=creds.account_id, token=token,
            base_url="http://sandbox/v2", user_agent=USER_AGENT,
        )
        create_connection(
            store, "fine", account_id=creds.account_id, token=creds.admin_token,
            base_url="http://sandbox/v2", user_agent=USER_AGENT,
        )
        service = WebhookService(store)
        paging, secret, _ = service.add(receiver.url, events=["connection.paused"], allow_private=True)
        # A subscription to changes only hears nothing of it.
        service.add(receiver.url + "/changes", events=["user.*"], allow_private=True)
        runner = Runner(store, JobsSettings(), transport=httpx.ASGITransport(app=sandbox.app))
        revoked = store.get_connection("revoked")
        assert asyncio.run(runner.sync(revoked.id, tag="t.1")).outcome == "paused"
        # Paused already: neither a skipped run nor a second pause announces it again.
        assert asyncio.run(runner.sync(revoked.id, tag="t.2")).outcome == "skipped"
        runner.pause(revoked, "Harvest refused its credentials again", cause="credentials_refused")
        asyncio.run(runner.aclose())

        settings = DispatchSettings(retry_schedule=(), timeout=5.0)
        stats = asyncio.run(run_dispatcher(store, settings=settings, until_idle=True))
        assert stats.delivered == 1, stats
        [received] = receiver.delivered()
        payload = verify(secret, received)  # signed for the paging subscription
        jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(payload)
        assert payload["type"] == "connection.paused"
        data = payload["data"]
        assert data["connection"] == {"id": revoked.id, "name": "revoked", "account_id": creds.account_id}
        assert data["cause"] == "credentials_refused"
        assert "refused its credentials" in data["reason"]
        assert "thresher connections config revoked --resume" in data["fix"]
        assert "NoLongerValid" not in received.body.decode()  # never the token
        assert service.records.count_deliveries(subscription_id=paging.id) == {
            "pending": 0, "delivered": 1, "dead": 0,
        }


def test_the_schema_refuses_a_paused_event_without_its_fix() -> None:
    """The schema's rule for connection.paused is a real check, not an open object."""
    schema = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    event = {
        "id": "msg_1", "type": "connection.paused", "timestamp": "2026-12-01T12:00:00+00:00",
        "data": {"connection": {"id": 1, "name": "a", "account_id": 2}, "reason": "r",
                 "cause": "credentials_refused", "paused_at": "2026-12-01T12:00:00+00:00"},
    }
    assert not schema.is_valid(event)
    event["data"]["fix"] = "resume it"  # type: ignore[index]
    assert schema.is_valid(event)



def test_the_dashboard_status_shows_a_paused_connection_with_its_reason(tmp_path: Path) -> None:
    from thresher.serve import ServeSettings, Service
    from thresher.serve._status import connection_status

    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        create_connection(store, "revoked", account_id=1, token="1.pt.x", user_agent=USER_AGENT)
        create_connection(store, "fine", account_id=2, token="2.pt.y", user_agent=USER_AGENT)
        runner = Runner(store, JobsSettings())
        runner.pause(store.get_connection("revoked"), "Harvest refused its credentials: 401",
                     cause="credentials_refused")
        asyncio.run(runner.aclose())
        service = Service(ServeSettings(background=False), store)
        shown = {c["name"]: c["paused"] for c in connection_status(store, service.scheduler)}
        assert shown["fine"] is None
        assert shown["revoked"]["reason"] == "Harvest refused its credentials: 401"
        assert shown["revoked"]["at"] is not None
