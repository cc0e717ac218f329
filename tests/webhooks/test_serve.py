"""``thresher serve`` runs the dispatcher (serve/_components.py finds ``run_dispatcher`` by name):
a change synced by the service reaches a subscribed receiver, signed, and counts on /metrics."""

from __future__ import annotations

import httpx

from serve.conftest import prepare, serve_sandbox, start_serve, wait_for  # noqa: F401 - fixture
from thresher.connections import SecretBox
from thresher.sandbox import RunningSandbox
from thresher.store import Store
from thresher.webhooks import SecretKeeper, WebhookService

from .checks import verified
from .receiver import Receiver

SECRET_KEY = "webhook-serve-tests-passphrase"


def test_serve_delivers_a_synced_change(
    serve_sandbox: RunningSandbox,  # noqa: F811
    database_url: str,
    receiver: Receiver,
) -> None:
    setup = prepare(serve_sandbox, database_url)
    keeper = SecretKeeper(SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET_KEY}))
    with Store.open(database_url) as store:
        _, secret, _ = WebhookService(store, keeper=keeper).add(
            receiver.url, events=["user.updated"], allow_private=True
        )
    serve = start_serve({**setup.env, "THRESHER_SECRET_KEY": SECRET_KEY}, "--sync-interval", "1")
    try:
        with serve.client() as anon:
            wait_for(lambda: anon.get("/readyz").status_code == 200, what="/readyz 200")
            user_id = next(iter(setup.sandbox.state.users))
            creds = setup.sandbox.credentials
            patched = httpx.patch(
                f"{setup.running.api_url}/users/{user_id}",
                json={"last_name": "Hooked"},
                headers={
                    "Authorization": f"Bearer {creds.admin_token}",
                    "Harvest-Account-Id": str(creds.account_id),
                    "User-Agent": "tests (tests@example.com)",
                },
            )
            assert patched.status_code == 200, patched.text
            receiver.wait_for(lambda r: bool(r.delivered()), timeout=120)

            def counted() -> bool:
                return 'outcome="delivered"' in anon.get("/metrics").text

            wait_for(counted, what="the delivery on /metrics")
    finally:
        code = serve.terminate()
    assert code == 0, serve.output
    (payload,) = verified(receiver, secret)
    assert payload["type"] == "user.updated"
    assert payload["data"]["harvest_id"] == user_id
    assert payload["data"]["changes"]["last_name"]["after"] == "Hooked"
    assert secret not in serve.output
