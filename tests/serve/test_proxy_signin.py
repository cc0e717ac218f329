"""Sign-in by a reverse proxy's header (``[dashboard] admin_header``): honoured only when the TCP
peer is one of ``trusted_proxies``; the same header from anyone else is ignored, even when the
request also claims (``X-Forwarded-For``) to come from a trusted address.

In process over ``httpx.ASGITransport``, whose ``client`` is the peer address the app sees.
"""

from __future__ import annotations

from typing import Any

import httpx

from thresher.serve import ServeSettings, Service
from thresher.store import Store

HEADER = "X-Forwarded-User"
PROXY = "10.0.0.5"
OUTSIDER = "203.0.113.9"


def _service(store: Store, **extra: Any) -> Service:
    settings = ServeSettings.model_validate({
        "scim": {"enabled": False},
        "dashboard": {"admin_header": HEADER, "trusted_proxies": [f"{PROXY}/32", "127.0.0.1"]},
        **extra,
    })
    return Service(settings, store)


def _client(service: Service, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service.app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://serve.test")


async def test_the_header_signs_in_from_a_trusted_proxy_only(store: Store) -> None:
    service = _service(store)
    async with _client(service, PROXY) as proxy, _client(service, OUTSIDER) as outsider:
        page = await proxy.get("/", headers={HEADER: "grace"})
        assert page.status_code == 200
        assert "grace" in page.text
        assert (await proxy.get("/")).status_code == 303  # no header: the sign-in form

        spoofed = await outsider.get("/", headers={HEADER: "grace"})
        assert spoofed.status_code == 303
        assert spoofed.headers["location"].startswith("/login")
        claimed = await outsider.get("/", headers={HEADER: "grace", "X-Forwarded-For": PROXY})
        assert claimed.status_code == 303
        refused = await outsider.post("/connections/acme/sync", headers={HEADER: "grace"})
        assert refused.status_code == 401

        # A proxy's sign-in still needs the form's CSRF token on a POST.
        no_csrf = await proxy.post("/logout", headers={HEADER: "grace"}, data={})
        assert no_csrf.status_code == 403


async def test_behind_forwarded_headers_the_peer_not_the_named_client_decides(store: Store) -> None:
    # With proxy_headers the client address becomes the one the proxy names: a trusted proxy
    # forwarding an outside user still signs them in, and an outsider naming the proxy does not.
    service = _service(store, proxy_headers=True)
    async with _client(service, PROXY) as proxy, _client(service, OUTSIDER) as outsider:
        forwarded = await proxy.get(
            "/", headers={HEADER: "grace", "X-Forwarded-For": OUTSIDER, "X-Forwarded-Proto": "https"}
        )
        assert forwarded.status_code == 200
        assert "grace" in forwarded.text
        spoofed = await outsider.get("/", headers={HEADER: "grace", "X-Forwarded-For": PROXY})
        assert spoofed.status_code == 303
