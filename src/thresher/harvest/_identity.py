"""The identity service's accounts endpoint: docs/harvest-api.md §5.3."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ._core import Core
from ._models import Account, IdentityAccounts

__all__ = ["Identity"]


class Identity(Core):
    async def get_identity(self, *, harvest_only: bool = True) -> IdentityAccounts:
        """``GET {id_url}/api/v2/accounts``: the token's user and the accounts it reaches, sent
        without ``Harvest-Account-Id``. Forecast accounts are dropped unless
        ``harvest_only=False``; the list may be empty for a valid identity."""
        response = await self._send("GET", f"{self.settings.id_url}/api/v2/accounts")
        identity = self._model(response, IdentityAccounts)
        if not harvest_only:
            return identity
        kept = [a for a in identity.accounts if a.product == "harvest"]
        return identity.model_copy(update={"accounts": kept})

    async def list_accounts(self, *, harvest_only: bool = True) -> AsyncIterator[Account]:
        """``GET {id_url}/api/v2/accounts``: the accounts this token reaches (Harvest's only,
        unless ``harvest_only=False``); ``get_identity()`` also gives the user."""
        for account in (await self.get_identity(harvest_only=harvest_only)).accounts:
            yield account
