"""Acceptance: every change kind from a sync, a CLI write and a SCIM write reaches a subscribed
receiver over HTTP, signed (verified by the published library), in per-user order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # no stubs installed

from harvest_clients import client_for, connection_for, engine
from provision.conftest import Cli, cli, sandbox_for_cli  # noqa: F401 - fixtures
from scim.conftest import make_harness
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import CHANGE_TYPES, Store
from thresher.webhooks import SecretKeeper, WebhookService

from .checks import assert_forgeries_refused, assert_per_user_order, verified
from .conftest import dispatching
from .receiver import Receiver

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "webhook-event.schema.json"


async def test_every_change_kind_from_a_sync(
    store: Store, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    sandbox = Sandbox(SandboxConfig(users=6, seed=2, rate_limit=None))
    connection = connection_for(store, sandbox)
    sub, secret, _ = service.add(receiver.url, events=["*"], allow_private=True)
    async with client_for(sandbox) as client, dispatching(store, keeper):
        sync = engine(store, client, connection)
        await sync.run(full=True)
        made = await client.create_user({"first_name": "Ada", "last_name": "L", "email": "ada@example.com"})
        role = await client.create_role("Webhookers", [made.id])
        managers = [u.id async for u in client.list_users() if u.is_people_manager]
        manager = managers[0]
        await client.set_teammates(manager, [made.id])
        await sync.run()
        await client.update_user(made.id, {"first_name": "Augusta"})
        await client.archive_user(made.id)
        await client.update_role(role.id, name="Hookers of webs")
        await sync.run()
        await client.restore_user(made.id)
        await client.set_teammates(manager, [])
        await sync.run()
        await client.delete_role(role.id)
        await client.delete_user(made.id)
        await sync.run(full=True)
        expected = service.records.count_deliveries()
        total = sum(expected.values())
        await receiver.until(lambda r: len(r.ids()) >= total)
    payloads = verified(receiver, secret)
    schema = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for payload in payloads:
        schema.validate(payload)  # docs/webhook-event.schema.json describes what is sent
    assert {p["type"] for p in payloads} >= set(CHANGE_TYPES)
    assert {p["data"]["source"] for p in payloads} == {"sync"}
    assert_per_user_order(payloads)
    ada = [
        p["type"]
        for p in payloads
        if p["data"].get("harvest_id") == made.id and p["data"]["resource"] == "user"
    ]
    assert ada[0] == "user.created"
    assert ada[-1] == "user.deleted"
    assert ada.index("user.updated") < ada.index("user.archived") < ada.index("user.restored")
    assert service.records.count_deliveries(subscription_id=sub.id)["pending"] == 0
    assert_forgeries_refused(receiver.delivered()[0], secret)


def test_every_change_kind_from_cli_writes(
    cli: Cli,  # noqa: F811
    receiver: Receiver,
    database_url: str,
) -> None:
    env: dict[str, str | None] = {"THRESHER_DATABASE_URL": database_url}

    def run(*args: str) -> str:
        if args[0] == "webhooks" or database_url.startswith("sqlite"):
            return cli(*args, env=env).stdout
        # The users and roles write commands leave their store open (cli/_plumbing.py's
        # run_writes never closes it); in-process, psycopg reports each left-open connection as
        # a ResourceWarning. A process of their own closes them at exit, as for a user.
        done = subprocess.run(
            [sys.executable, "-m", "thresher", *args],
            env={**os.environ, **cli.env, "THRESHER_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"thresher {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    added = json.loads(run("webhooks", "add", receiver.url, "--allow-private-targets", "-e", "*", "--json"))
    secret = added["secret"]
    made = json.loads(
        run(
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--first-name",
            "Ada",
            "--last-name",
            "Lovelace",
            "--json",
        )
    )
    run("users", "update", "ada@example.com", "--last-name", "King")
    run("roles", "create", "Webhookers", "--member", "ada@example.com")
    run("roles", "rename", "Webhookers", "Hookers")
    run("users", "archive", "ada@example.com")
    run("users", "restore", "ada@example.com")
    run("roles", "delete", "Hookers", "--yes")
    run("users", "delete", "ada@example.com", "--yes")
    stats = json.loads(run("webhooks", "dispatch", "--until-idle", "--json"))
    assert stats["delivered"] >= 7
    payloads = verified(receiver, secret)
    kinds = [p["type"] for p in payloads]
    for kind in (
        "user.created",
        "user.updated",
        "user.archived",
        "user.restored",
        "user.deleted",
        "role.created",
        "role.updated",
        "role.deleted",
    ):
        assert kind in kinds
    assert {p["data"]["source"] for p in payloads} == {"cli"}
    assert_per_user_order(payloads)
    ada = [
        p["type"]
        for p in payloads
        if p["data"]["resource"] == "user" and p["data"]["harvest_id"] == made["id"]
    ]
    assert ada[0] == "user.created"
    assert ada[-1] == "user.deleted"
    assert ada.index("user.archived") < ada.index("user.restored")
    listed = json.loads(run("webhooks", "deliveries", "--json"))
    assert {d["status"] for d in listed} == {"delivered"}


async def test_every_change_kind_from_scim_writes(
    store: Store, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    async for bridge in make_harness(store, SandboxConfig(users=4, seed=3, rate_limit=None)):
        # After the harness's first sync: only what the identity provider does is of interest.
        sub, secret, _ = service.add(receiver.url, allow_private=True)
        async with dispatching(store, keeper):
            created = await bridge.http.post(
                "/Users",
                json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "grace@example.com",
                    "name": {"givenName": "Grace", "familyName": "Hopper"},
                    "active": True,
                },
            )
            assert created.status_code == 201, created.text
            uid = created.json()["id"]
            patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
            for ops in (
                [{"op": "replace", "path": "name.familyName", "value": "Murray"}],
                [{"op": "replace", "path": "active", "value": False}],
                [{"op": "replace", "path": "active", "value": True}],
            ):
                answer = await bridge.http.patch(
                    f"/Users/{uid}", json={"schemas": [patch], "Operations": ops}
                )
                assert answer.status_code in (200, 204), answer.text
            group = await bridge.http.post(
                "/Groups",
                json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Admirals",
                    "members": [{"value": uid}],
                },
            )
            assert group.status_code == 201, group.text
            total = sum(service.records.count_deliveries(subscription_id=sub.id).values())
            await receiver.until(lambda r, total=total: len(r.ids()) >= total)  # type: ignore[misc]
    payloads = verified(receiver, secret)
    kinds = [p["type"] for p in payloads]
    grace = [
        p["type"] for p in payloads if p["data"]["resource"] == "user" and str(p["data"]["harvest_id"]) == uid
    ]
    assert grace[:4] == ["user.created", "user.updated", "user.archived", "user.restored"]
    assert "role.created" in kinds
    assert {p["data"]["source"] for p in payloads} == {"scim"}
    assert_per_user_order(payloads)
