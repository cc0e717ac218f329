"""The Harvest and Greenhouse bridges construct through the same base (``thresher.scim._base``):
whatever Harvest's storage and bridge gain for their shared reads and app must reach Greenhouse's,
or Greenhouse's bridge breaks at its first request. This fails the day an attribute is added to
a Harvest ``__init__`` that the Greenhouse one does not get, naming it."""

from __future__ import annotations

import pytest

from providers import SECRET_KEY, make_provider
from thresher.greenhouse import AsyncGreenhouse
from thresher.harvest import AsyncHarvest
from thresher.provision import WriteThrough
from thresher.scim import BridgeBase, GreenhouseScimBridge, MirrorStorage, ScimBridge, TokenStore
from thresher.store import Store

#: What Harvest's storage and bridge hold for Harvest alone (its write-through, owner guard,
#: delete mode, rate forecast and sync thread); everything else is shared.
HARVEST_STORAGE_ONLY = {"writer", "guard", "delete_mode", "writes"}
HARVEST_BRIDGE_ONLY = {"writer", "guard", "sync_client", "sync_options", "sync", "max_rate_wait"}


async def test_greenhouse_s_bridge_has_every_shared_attribute_of_harvest_s(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)
    harvest = make_provider("harvest", store, users=3, connection_name="h")
    greenhouse = make_provider("greenhouse", store, users=3, connection_name="g")
    async with harvest.client() as harvest_client, greenhouse.client() as greenhouse_client:
        assert isinstance(harvest_client, AsyncHarvest)
        assert isinstance(greenhouse_client, AsyncGreenhouse)
        ours = ScimBridge(WriteThrough(harvest_client, store, harvest.connection), TokenStore(store))
        theirs = GreenhouseScimBridge(greenhouse_client, store, greenhouse.connection, TokenStore(store))
        for bridge in (ours, theirs):
            assert isinstance(bridge, BridgeBase)
            assert isinstance(bridge.storage, MirrorStorage)
            assert bridge.work is bridge.storage.work
        missing = set(vars(ours.storage)) - HARVEST_STORAGE_ONLY - set(vars(theirs.storage))
        assert not missing, f"GreenhouseStorage lacks {sorted(missing)}: set them in MirrorStorage.__init__"
        missing = set(vars(ours)) - HARVEST_BRIDGE_ONLY - set(vars(theirs))
        assert not missing, f"GreenhouseScimBridge lacks {sorted(missing)}: set them in BridgeBase.__init__"
        assert theirs.storage.connection_id == greenhouse.connection.id
        assert ours.storage.connection_id == harvest.connection.id
