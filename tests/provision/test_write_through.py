"""Write-through: a write lands in the store from Harvest's answer, at once, and
the next sync does not announce it again."""

from __future__ import annotations

from harvest_clients import client_for, connection_for, engine
from thresher.harvest import UserCreate
from thresher.provision import WriteThrough, edit_user, remove_user
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store


def _sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(users=20, seed=9, rate_limit=None))


async def test_each_write_is_visible_at_once_and_never_announced_twice(store: Store) -> None:
    sandbox = _sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync = engine(store, client, conn)
        await sync.run()
        writes = WriteThrough(client, store, conn)

        user = await writes.create_user(
            UserCreate(first_name="Grace", last_name="Hopper", email="grace@example.com")
        )
        stored = store.find_user_by_email(conn.id, "GRACE@example.com")
        assert stored is not None
        assert stored.harvest_id == user.id
        await writes.update_user(user.id, {"last_name": "Murray Hopper"})
        await writes.archive_user(user.id)
        stored = store.get_user(conn.id, user.id)
        assert stored is not None
        assert stored.last_name == "Murray Hopper"
        assert not stored.is_active

        kinds = [e.kind for e in store.list_events(conn.id, harvest_id=user.id)]
        assert kinds == ["created", "updated", "archived"]
        assert {e.source for e in store.list_events(conn.id, harvest_id=user.id)} == {"write"}

        report = await sync.run(full=True)
        assert report.changes == 0  # the sync reads the same values: nothing new to announce
        assert len(store.list_events(conn.id, harvest_id=user.id)) == 3


async def test_teammates_and_roles_update_the_users_they_affect(store: Store) -> None:
    sandbox = _sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync = engine(store, client, conn)
        await sync.run()
        writes = WriteThrough(client, store, conn)
        members = [u for u in store.list_users(conn.id, active=True) if u.access_roles == ["member"]]
        manager = await writes.create_user(
            UserCreate(first_name="Mia", last_name="Lead", email="mia@example.com", access_roles=["manager"])
        )
        await writes.set_teammates(manager.id, [members[0].harvest_id, members[1].harvest_id])
        stored = store.get_user(conn.id, manager.id)
        assert stored is not None
        assert "people_manager" in stored.access_roles  # derived by Harvest, read back
        assert sorted(store.get_teammates(conn.id, manager.id)) == sorted(
            [members[0].harvest_id, members[1].harvest_id]
        )

        role = await writes.create_role("Guild", [members[2].harvest_id])
        member = store.get_user(conn.id, members[2].harvest_id)
        assert member is not None
        assert "Guild" in member.roles
        await writes.update_role(role.id, name="Guild of Makers")
        member = store.get_user(conn.id, members[2].harvest_id)
        assert member is not None
        assert "Guild of Makers" in member.roles
        await writes.delete_role(role.id)
        member = store.get_user(conn.id, members[2].harvest_id)
        assert member is not None
        assert "Guild of Makers" not in member.roles

        await writes.set_teammates(manager.id, [])
        stored = store.get_user(conn.id, manager.id)
        assert stored is not None
        assert "people_manager" not in stored.access_roles

        report = await sync.run(full=True)
        assert report.changes == 0
        assert sum(report.role_events.values()) == 0


async def test_an_archived_user_is_renamed_by_restoring_and_archiving_again(store: Store) -> None:
    """docs/harvest-api.md gotcha 3: Harvest freezes an archived user's names and email."""
    sandbox = _sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        await engine(store, client, conn).run()
        writes = WriteThrough(client, store, conn)
        user = await writes.create_user(
            UserCreate(first_name="Alan", last_name="Turing", email="alan@example.com")
        )
        await writes.archive_user(user.id)
        archived = store.get_user(conn.id, user.id)
        assert archived is not None
        assert not archived.is_active

        await edit_user(writes, archived, {"last_name": "Mathison Turing", "is_contractor": True})
        held = sandbox.state.users[user.id]
        assert (held.last_name, held.is_contractor, held.is_active) == ("Mathison Turing", True, False)
        kinds = [e.kind for e in store.list_events(conn.id, harvest_id=user.id)]
        assert kinds[-3:] == ["restored", "updated", "archived"]

        # A change Harvest allows on an archived user is sent as it is.
        stored = store.get_user(conn.id, user.id)
        assert stored is not None
        await edit_user(writes, stored, {"is_contractor": False})
        assert [e.kind for e in store.list_events(conn.id, harvest_id=user.id)][-1] == "updated"
        assert len(store.list_events(conn.id, harvest_id=user.id)) == len(kinds) + 1

        # The wanted state: restored before the change, archived after it.
        stored = store.get_user(conn.id, user.id)
        assert stored is not None
        await edit_user(writes, stored, {"first_name": "A."}, active=True)
        stored = store.get_user(conn.id, user.id)
        assert stored is not None
        assert (stored.first_name, stored.is_active) == ("A.", True)
        await edit_user(writes, stored, {"first_name": "Alan"}, active=False)
        assert [e.kind for e in store.list_events(conn.id, harvest_id=user.id)][-4:] == [
            "restored", "updated", "updated", "archived"
        ]
        assert sandbox.state.users[user.id].first_name == "Alan"
        assert not sandbox.state.users[user.id].is_active


async def test_a_user_with_time_is_archived_when_the_delete_is_refused(store: Store) -> None:
    """docs/harvest-api.md gotcha 5: Harvest refuses to delete a user with time or expenses."""
    sandbox = _sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        await engine(store, client, conn).run()
        writes = WriteThrough(client, store, conn)
        me = (await client.me()).id  # the token's own user stays: the test needs its token
        active = [u.harvest_id for u in store.list_users(conn.id, active=True) if u.harvest_id != me]
        with_time = next(u for u in active if sandbox.state.has_time_or_expenses(u))
        without = next(u for u in active if not sandbox.state.has_time_or_expenses(u))

        kept = await remove_user(writes, with_time, is_active=True)
        assert kept.outcome == "archived"
        assert kept.reason  # Harvest's refusal, for the caller to show
        assert not sandbox.state.users[with_time].is_active
        stored = store.get_user(conn.id, with_time)
        assert stored is not None
        assert not stored.is_active

        again = await remove_user(writes, with_time, is_active=False)
        assert again.outcome == "already archived"

        gone = await remove_user(writes, without, is_active=True)
        assert (gone.outcome, gone.reason) == ("deleted", None)
        assert without not in sandbox.state.users
        assert store.get_user(conn.id, without) is None

        archived_only = await remove_user(writes, active[-1], is_active=True, delete=False)
        assert (archived_only.outcome, archived_only.reason) == ("archived", None)
