"""The Greenhouse sandbox's own qualities: deterministic seeding, seeded faults the client rides
out, the control plane's guard and knobs, the token endpoint's answers."""

from __future__ import annotations

import httpx
import pytest

from thresher.greenhouse import AmbiguousCreateError, RequestRecord
from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig

from .conftest import Target


def test_the_same_seed_gives_the_same_organisation() -> None:
    one, two = (GreenhouseSandbox(GreenhouseSandboxConfig(users=50, seed=9)) for _ in range(2))
    other = GreenhouseSandbox(GreenhouseSandboxConfig(users=50, seed=10))
    render = [u.render() for u in one.state.users.values()]
    assert render == [u.render() for u in two.state.users.values()]
    assert one.credentials_document() == two.credentials_document()
    assert render != [u.render() for u in other.state.users.values()]
    admin = one.state.users[one.state.admin_id]
    assert admin.site_admin
    assert not one.state.users[one.state.basic_id].site_admin
    assert len(one.state.users) == 51  # and the Integration Service User


async def test_a_listing_rides_out_seeded_server_errors(target: Target) -> None:
    target.sandbox.set_faults("500:0.2,503:0.1,seed=4")
    records: list[RequestRecord] = []
    async with target.client(records=records, per_page=5) as gh:
        ids = [u.id async for u in gh.list_users()]
    assert len(ids) == 40
    faulted = [r for r in target.log() if r["fault"] is not None]
    assert faulted  # the spec did hit some requests...
    assert {r["status"] for r in faulted} <= {500, 503}
    # ...and the same spec replays the same sequence.
    first = [(r["fault"]) for r in target.log()]
    target.sandbox.requests.clear()
    target.sandbox.set_faults("500:0.2,503:0.1,seed=4")
    async with target.client(per_page=5) as gh:
        assert [u.id async for u in gh.list_users()] == ids
    assert [r["fault"] for r in target.log()] == first


async def test_a_create_whose_answer_failed_is_ambiguous(target: Target) -> None:
    async with target.client() as gh:
        [r async for r in gh.list_user_roles()]  # the token is minted before the faults
        target.sandbox.set_faults("500:1")
        with pytest.raises(AmbiguousCreateError, match="may or may not"):
            await gh.create_user({"first_name": "A", "last_name": "B", "email": "ab@example.com"})
    creates = [r for r in target.log() if r["method"] == "POST" and r["path"] == "/v3/users"]
    assert len(creates) == 1  # never re-sent


async def test_deactivate_retries_through_dropped_connections(live_target: Target) -> None:
    """Deactivate is idempotent (204 either way), so a connection lost mid-answer is retried
    (over real HTTP: a dropped connection needs a real one)."""
    target = live_target
    uid = target.sandbox.state.basic_id
    async with target.client() as gh:
        [r async for r in gh.list_user_roles()]
        target.sandbox.set_faults("drop:0.3,lost:0.3,seed=1")
        await gh.deactivate_user(uid)
        target.sandbox.set_faults(None)
        assert (await gh.get_user(uid)).deactivated
    attempts = [r["status"] for r in target.log() if r["path"].endswith("/deactivate")]
    assert attempts[-1] == 204
    assert 0 in attempts  # at least one answer was lost on the way


def test_control_plane(live_target: Target) -> None:
    target = live_target
    sandbox = target.sandbox
    with httpx.Client(base_url=target.origin, timeout=30) as client:
        assert client.get("/sandbox/credentials").status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert client.get("/sandbox/credentials", headers=wrong).status_code == 401
        auth = {"Authorization": f"Bearer {sandbox.state.control_token}"}
        doc = client.get("/sandbox/credentials", headers=auth).json()
        assert doc["site_admin_user_id"] == sandbox.state.admin_id
        made = client.post(
            "/sandbox/credentials", headers=auth, json={"scopes": ["harvest:users:list"], "name": "mine"}
        ).json()
        assert made["scopes"] == ["harvest:users:list"]
        bad = client.post("/sandbox/credentials", headers=auth, json={"scopes": ["harvest:everything"]})
        assert bad.status_code == 400
        assert "unknown scopes" in bad.json()["message"]
        scoped = client.put(
            f"/sandbox/credentials/{made['client_id']}/scopes",
            headers=auth,
            json={"scopes": ["harvest:user_roles:list"]},
        )
        assert scoped.json()["scopes"] == ["harvest:user_roles:list"]
        assert "client_secret" not in scoped.json()
        client.post(f"/sandbox/credentials/{made['client_id']}/revoke", headers=auth).raise_for_status()
        assert sandbox.state.credentials[made["client_id"]].revoked
        assert client.put("/sandbox/faults", headers=auth, json={"spec": "nonsense"}).status_code == 400
        assert client.put("/sandbox/faults", headers=auth, json={"spec": "502:0.1,seed=3"}).json() == {
            "spec": "502:0.1,seed=3"
        }
        assert client.put("/sandbox/clock", headers=auth, json={"offset_seconds": 1e300}).status_code == 400
        assert (
            client.put("/sandbox/clock", headers=auth, json={"offset_seconds": 60}).json()["offset_seconds"]
            == 60
        )
        assert client.put("/sandbox/settings", headers=auth, json={"seat_limit": 3}).status_code == 400
        settings = client.put("/sandbox/settings", headers=auth, json={"rate_limit": "10/30s"}).json()
        assert settings["rate_limit"] == "10/30s"
        assert client.post("/sandbox/reset", headers=auth, json={"users": 12}).json() == {"users": 13}
        assert client.get("/sandbox/requests", headers=auth).json() == {"requests": []}
        assert client.post("/sandbox/reset", headers=auth, content=b"[1]").status_code == 400


@pytest.mark.parametrize(
    ("auth", "form", "status", "body"),
    [
        (None, {"grant_type": "client_credentials"}, 401, "Unauthorized"),
        (("ghsbx-nope-000000000000", "x"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("full", {"grant_type": "password"}, 400, "unsupported_grant_type"),
        ("full", {"grant_type": "client_credentials", "sub": "abc"}, 400, "sub must be"),
    ],
)
async def test_token_endpoint_answers(
    asgi_target: Target, auth: object, form: dict[str, str], status: int, body: str
) -> None:
    cred = asgi_target.sandbox.credential("full")
    basic = (cred.client_id, cred.client_secret) if auth == "full" else auth
    async with httpx.AsyncClient(transport=asgi_target.transport(), base_url=asgi_target.origin) as client:
        response = await client.post("/token", auth=basic, data=form)  # type: ignore[arg-type]
    assert response.status_code == status
    assert body in response.text


async def test_without_sub_the_token_acts_as_the_integration_service_user(asgi_target: Target) -> None:
    async with asgi_target.client(sub=None) as gh:
        users = [u async for u in gh.list_users(show_service_accounts=True)]
    assert asgi_target.sandbox.state.service_id in {u.id for u in users}
    assert asgi_target.log()[0]["sub"] is None
