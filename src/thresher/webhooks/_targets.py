"""Where a webhook may be sent: server-side request forgery guards, at creation and at send time.

A webhook URL is chosen by whoever makes the subscription, and the dispatcher runs inside the
operator's network: without guards a subscription could make it call a cloud metadata endpoint
(169.254.169.254), an admin port on localhost, or a database on the private network. So:
- https only, except to loopback (a receiver on the same machine); no credentials in the URL;
- every address the host resolves to must be public (not private, loopback, link-local, shared,
  reserved, multicast or unspecified), unless the subscription allows private targets;
- the check runs again before every send, and the request goes to the address just checked (the
  host name stays in ``Host`` and TLS SNI), so a name that later resolves elsewhere (DNS
  rebinding) cannot redirect deliveries; redirects are never followed (``_sender``).

``TargetCache`` keeps a host's resolution for a few seconds (``RESOLVE_TTL``), so a busy
dispatcher does not ask DNS per delivery; every send still checks the class of the address it is
about to use, and a URL's own rules are checked once per URL (they cannot change).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import time
from typing import Any

import httpx

from ._errors import UnsafeTargetError

__all__ = ["RESOLVE_TTL", "Target", "TargetCache", "check_target", "check_url", "is_public", "resolve_target"]

#: Seconds a host's resolution is reused for deliveries.
RESOLVE_TTL = 5.0

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to connect: ``url`` (the checked address), with the ``Host`` header and TLS
    server name of the URL the subscription names."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _is_loopback_host(host: str) -> bool:
    address = _address(host)
    return host.lower() in _LOOPBACK_NAMES if address is None else address.is_loopback


def check_url(url: str, *, allow_private: bool) -> httpx.URL:
    """The URL's own rules (scheme, credentials, a literal address): no DNS lookup."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeTargetError(f"{url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeTargetError(f"a webhook URL must be http(s)://host/..., not {url!r}")
    if parsed.userinfo:
        raise UnsafeTargetError(
            "a webhook URL must not carry a user name or password (they would be stored and shown)",
            hint="Receivers authenticate deliveries by their signature (docs/webhooks.md).",
        )
    if parsed.scheme == "http" and not _is_loopback_host(parsed.host):
        raise UnsafeTargetError(f"webhooks are sent over https only, except to loopback: {parsed.host}")
    address = _address(parsed.host)
    if address is not None and not allow_private and not is_public(address):
        raise UnsafeTargetError(f"{parsed.host} is a private, loopback or link-local address")
    if address is None and not allow_private and parsed.host.lower() in _LOOPBACK_NAMES:
        raise UnsafeTargetError(f"{parsed.host} is a loopback name")
    return parsed


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTargetError(
            f"cannot resolve {host}: {exc.strerror}", hint="Check the URL's host name."
        ) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


def _pinned(parsed: httpx.URL, addresses: list[IPAddress]) -> Target:
    refused = [a for a in addresses if not is_public(a)]
    if refused or not addresses:
        raise UnsafeTargetError(
            f"{parsed.host} resolves to a non-public address ({refused[0] if refused else 'none'})"
        )
    pinned = parsed.copy_with(host=str(addresses[0]))
    host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` now and pin its request to the address checked (see the module's notes)."""
    parsed = check_url(url, allow_private=allow_private)
    if allow_private or _address(parsed.host) is not None:
        return Target(parsed, {}, {})
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _pinned(parsed, await _resolve(parsed.host, port))


class TargetCache:
    """``resolve_target`` for a dispatcher: URL rules once per URL, DNS once per ``ttl`` per host,
    the address class at every send. Refusals are never cached (a fixed DNS entry is seen at once)."""

    def __init__(self, ttl: float = RESOLVE_TTL, *, size: int = 1024) -> None:
        self._ttl = ttl
        self._size = size
        self._urls: dict[tuple[str, bool], httpx.URL] = {}
        self._resolved: dict[tuple[str, int], tuple[float, list[IPAddress]]] = {}

    async def target(self, url: str, *, allow_private: bool) -> Target:
        key = (url, allow_private)
        parsed = self._urls.get(key)
        if parsed is None:
            parsed = check_url(url, allow_private=allow_private)
            if len(self._urls) >= self._size:
                self._urls.clear()
            self._urls[key] = parsed
        if allow_private or _address(parsed.host) is not None:
            return Target(parsed, {}, {})
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        now = time.monotonic()
        found = self._resolved.get((parsed.host, port))
        if found is not None and found[0] > now:
            return _pinned(parsed, found[1])
        addresses = await _resolve(parsed.host, port)
        target = _pinned(parsed, addresses)
        if len(self._resolved) >= self._size:
            self._resolved.clear()
        self._resolved[(parsed.host, port)] = (now + self._ttl, addresses)
        return target


def check_target(url: str, *, allow_private: bool) -> httpx.URL:
    """``check_url`` plus the DNS check, for a subscription being made (blocking lookup)."""
    parsed = check_url(url, allow_private=allow_private)
    if allow_private or _address(parsed.host) is not None:
        return parsed
    try:
        infos = socket.getaddrinfo(parsed.host, parsed.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTargetError(
            f"cannot resolve {parsed.host}: {exc.strerror}", hint="Check the URL's host name."
        ) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not is_public(address):
            raise UnsafeTargetError(f"{parsed.host} resolves to a non-public address ({address})")
    return parsed
