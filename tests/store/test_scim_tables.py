"""The SCIM bridge's tables through the store's API: round trips, and errors that are StoreErrors."""

from __future__ import annotations

import datetime as dt

import pytest

from thresher.scim import LocalRecords, TokenError, TokenStore, UserExtras
from thresher.store import (
    DatabaseError,
    DuplicateScimTokenError,
    ScimRecords,
    ScimTokens,
    ScimUserExtras,
    Store,
    StoredConnection,
    StoreError,
)

from .factories import at, make_role, make_user

NOW = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def _token(tokens: ScimTokens, name: str, key: str) -> None:
    tokens.add(
        name=name, key=key, salt="00" * 16, digest="0" * 64, allowed_cidrs=[], read_only=False, created_at=NOW
    )


def test_user_extras_and_groups_round_trip(store: Store, conn: StoredConnection) -> None:
    with store.transaction() as tx:
        tx.apply_users(conn.id, [make_user(1, email="Ada@Example.com"), make_user(2)], observed_at=at(0))
        tx.apply_roles(conn.id, [make_role(7, "Design", [1])], observed_at=at(0))
    records = ScimRecords(store, conn.id)
    extras = ScimUserExtras(external_id="okta-1", emails=[{"value": "ada@work.example", "primary": True}])
    records.save_user_extras(1, extras)
    records.save_user_extras(1, extras)  # a second save replaces the first
    records.save_group(7, "grp-7")

    assert records.user_extras() == {1: extras}
    ((user, found),) = records.users_with_extras(email=" ada@example.com").values()
    assert (user.harvest_id, found) == (1, extras)
    assert list(records.users_with_extras(external_id="okta-1")) == [1]
    assert records.users_with_extras(harvest_ids=[1, 2])[2][1] == ScimUserExtras()
    assert records.user_ids_with_email_text("ADA@WORK") == [1]
    assert records.role_ids_by_name() == {"Design": 7}
    assert records.group_external_ids() == {7: "grp-7"}
    records.forget_group(7)
    assert records.group_external_ids() == {}
    # The bridge's names are the store's records.
    assert UserExtras is ScimUserExtras


def test_tokens_and_request_counts_round_trip(store: Store) -> None:
    tokens = ScimTokens(store)
    _token(tokens, "okta", "k1")
    (token,) = tokens.list_tokens()
    assert (token.name, token.key, token.revoked_at) == ("okta", "k1", None)
    assert tokens.by_key("k1") == token
    tokens.add_requests({(token.id, 200): 2, (token.id, 404): 1}, {token.id: NOW})
    tokens.add_requests({(token.id, 200): 3}, {})
    assert tokens.request_counts() == {token.id: {200: 5, 404: 1}}
    assert tokens.revoke("okta", revoked_at=NOW)
    assert not tokens.revoke("okta", revoked_at=NOW)
    assert tokens.list_tokens() == []
    revoked = tokens.by_name("okta")
    assert revoked is not None
    assert (revoked.revoked_at, revoked.last_used_at) == (NOW, NOW)


def test_a_duplicate_token_is_a_store_error(store: Store) -> None:
    tokens = ScimTokens(store)
    _token(tokens, "okta", "k1")
    with pytest.raises(DuplicateScimTokenError):
        _token(tokens, "okta", "k2")
    # The same key under another name: the database's unique constraint refuses it.
    with pytest.raises(DuplicateScimTokenError) as caught:
        _token(tokens, "entra", "k1")
    assert isinstance(caught.value, StoreError)
    # The bridge's token store says so in its own terms.
    with pytest.raises(TokenError, match="exists already"):
        TokenStore(store).create("okta")


def test_scim_writes_that_the_database_refuses_are_store_errors(store: Store) -> None:
    missing = 999_999  # no such connection: the foreign keys refuse every row of it
    records = ScimRecords(store, missing)
    with pytest.raises(DatabaseError):
        records.save_user_extras(1, ScimUserExtras(external_id="x"))
    with pytest.raises(DatabaseError):
        records.save_group(7, "grp-7")
    with pytest.raises(StoreError):
        LocalRecords(store, missing).save_user(1, UserExtras(department="R&D"))
    with pytest.raises(DatabaseError):
        ScimTokens(store).add_requests({(missing, 200): 1}, {})
