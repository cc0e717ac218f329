"""scim2-tester (pinned 0.5.2) against the bridge over HTTP, for a Harvest and a Greenhouse
connection (``provider_name``, tests/providers.py).

scim2-tester fills attributes with random values unless a model field lists ``examples``; it reads
those from the client's models, so the client is given the bridge's own provider with one change:
examples for the decimal ``weeklyCapacityHours``, which scim2-tester would fill with a string.
Everything else (discovery, filling, comparisons) is scim2-tester's own. ``test_generic_client``
runs the same checks from what discovery alone says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from pydantic import Field
from scim2_client.client import BaseSyncSCIMClient, RawResponse
from scim2_models import Required
from scim2_tester import Status, check_server

from thresher.scim import HarvestUser, ScimUser, build_provider
from thresher.store import Store

from .servers import serve_provider_bridge


class SyncSCIMClient(BaseSyncSCIMClient):
    """scim2-client's httpx2 engine, for an httpx client (Starlette's TestClient is one); the
    pinned scim2-client imports httpx2, which thresher does not depend on."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.client.base_url
        url = self.client.build_request("GET", endpoint).url
        return bool(url.host == base.host and url.raw_path.startswith(base.raw_path))

    def _parse_json(self, response: RawResponse) -> Any:
        assert isinstance(response, httpx.Response)
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


class CheckerHarvestUser(HarvestUser):
    # scim2-tester fills a decimal attribute with a UUID string unless it has examples; the
    # bridge's own model lists none, since scim2-models makes examples canonicalValues, strings.
    weekly_capacity_hours: Annotated[float | None, Required.true] = Field(None, examples=[40.0, 37.5, 20.0])


@pytest.fixture
def scim_client(store: Store, provider_name: str) -> Iterator[SyncSCIMClient]:
    with (
        serve_provider_bridge(store, provider_name) as running,
        httpx.Client(
            base_url=running.base_url,
            headers={"Authorization": f"Bearer {running.token}"},
            timeout=30,
        ) as http,
    ):
        # Harvest's bridge gets the decimal examples above; Greenhouse's has no decimal: its own.
        scim_provider = (
            build_provider(ScimUser, CheckerHarvestUser)
            if provider_name == "harvest"
            else running.scim_provider
        )
        yield SyncSCIMClient(http, provider=scim_provider)


def test_every_check_passes(scim_client: SyncSCIMClient, provider_name: str) -> None:
    results = check_server(scim_client)
    failures = [f"{r.title}: {r.reason}" for r in results if r.status == Status.ERROR]
    assert not failures, "\n".join(failures)
    # Greenhouse's bridge has Users only (docs/greenhouse.md §6): fewer checks, none skipped silently.
    assert sum(r.status == Status.SUCCESS for r in results) > (50 if provider_name == "harvest" else 20)
