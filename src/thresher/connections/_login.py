"""Logging in: what a token reaches, whose it is, and saving it as a connection.

A login has no saved connection yet, so these take settings (and credentials) directly; once
``save_connection`` has recorded it, ``open_client`` is the way back to a client.
"""

from __future__ import annotations

import httpx

from thresher.harvest import Account, AsyncHarvest, HarvestSettings, User
from thresher.store import Store

from ._credentials import Credentials, SecretBox
from ._errors import ConnectionMismatchError
from ._resolve import ENV_CONNECTION, ResolvedConnection

__all__ = ["reachable_accounts", "save_connection", "token_owner"]


async def reachable_accounts(
    settings: HarvestSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Account]:
    """``GET {id_url}/api/v2/accounts``: the Harvest accounts the token in ``settings`` reaches
    (no account needs to be chosen yet)."""
    # The client refuses API-origin requests without an account id, and the sandbox serves the
    # identity service on the API's origin; a placeholder id satisfies that check (Harvest ID
    # itself lives on another origin and never receives the header).
    async with AsyncHarvest(settings.replace(account_id=1), transport=transport) as client:
        identity = await client.get_identity()
    return list(identity.accounts)


async def token_owner(
    settings: HarvestSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> User:
    """``GET /v2/users/me`` in the account of ``settings``: the user who owns the token."""
    async with AsyncHarvest(settings, transport=transport) as client:
        return await client.me()


def save_connection(
    store: Store,
    name: str,
    settings: HarvestSettings,
    credentials: Credentials | None = None,
    *,
    label: str | None = None,
    make_default: bool = False,
    box: SecretBox | None = None,
) -> ResolvedConnection:
    """Record ``name`` for the account, API and identity URLs of ``settings``, adding it or
    updating the one of that name, with ``credentials`` sealed by ``box`` (default:
    ``SecretBox.from_env()``).

    Without ``credentials`` nothing secret is saved: the caller holds the token (like the
    ``HARVEST_*`` variables, or the demo's short-lived sandbox) and uses the returned connection
    with ``open_client`` while it runs.

    ``ConnectionMismatchError``, nothing changed, for ``env`` (the ``HARVEST_*`` variables'
    connection is theirs alone) and for a name saved for another account or product: its stored
    roster exists nowhere else."""
    account_id = settings.account_id
    if account_id is None:
        raise ValueError("save_connection needs settings with an account_id")
    if name == ENV_CONNECTION:
        raise ConnectionMismatchError(
            f"{ENV_CONNECTION!r} is the connection the HARVEST_* variables form; nothing was saved",
            hint="Save this login under a name of its own: --name NAME.",
        )
    existing = store.get_connection_or_none(name)
    if existing is not None and (existing.provider != "harvest" or existing.account_id != account_id):
        what = "a Greenhouse account" if existing.provider != "harvest" else f"account {existing.account_id}"
        raise ConnectionMismatchError(
            f"the connection {name!r} is of {what}, not account {account_id}; nothing was saved",
            hint=f"Pick another name, or run 'thresher connections remove {name}' first (this "
            "deletes its mirror and change log).",
        )
    blob = None if credentials is None else (box or SecretBox.from_env()).seal(credentials)
    if existing is None:
        connection = store.add_connection(
            name, account_id, label=label, base_url=settings.base_url, id_url=settings.id_url,
            credentials_ref=blob, is_default=make_default,
        )
    else:
        connection = store.update_connection(
            name, account_id=account_id, label=label, base_url=settings.base_url,
            id_url=settings.id_url, credentials_ref=blob,
        )
        if make_default:
            connection = store.set_default_connection(name)
    return ResolvedConnection(connection, settings, credentials)
