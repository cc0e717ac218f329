"""The identity service's accounts endpoint: harvest-api-v2.md §5.3."""

from __future__ import annotations

from ._core import Core
from ._models import IdentityAccounts

__all__ = ["Identity"]


class Identity(Core):
    async def list_accounts(self, *, harvest_only: bool = True) -> IdentityAccounts:
        """``GET {id_url}/api/v2/accounts``: the accounts this token reaches, sent without
        ``Harvest-Account-Id``. Forecast accounts are dropped unless ``harvest_only=False``; the
        list may be empty for a valid identity."""
        response = await self._send("GET", f"{self.settings.id_url}/api/v2/accounts")
        accounts = self._model(response, IdentityAccounts)
        if not harvest_only:
            return accounts
        kept = [a for a in accounts.accounts if a.product == "harvest"]
        return accounts.model_copy(update={"accounts": kept})
