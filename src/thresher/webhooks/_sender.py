"""Sending one claimed delivery: sign, post, and say how it went (``DeliveryResult``).

- 2xx is delivered; anything else, a timeout or a refused connection is a failed attempt, retried
  after the schedule's next wait (``DispatchSettings.retry_delay``) or dead-lettered after its last.
- 429 and 503 with ``Retry-After`` wait as long as the receiver asks (up to ``max_retry_after``).
- Redirects are never followed (a 3xx is a failure): a receiver cannot point deliveries elsewhere.
- At most ``per_host`` requests to one host at once; every request times out after ``timeout``.
- The attempt log keeps the request's method, redacted URL, headers (the signature is a MAC, not
  the secret) and body, and the response's status and body, each cut to ``log_body_limit`` bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import time

import httpx

from thresher.store import DeliveryClaim, DeliveryResult

from ._errors import UnsafeTargetError, WebhookSecretError
from ._format import body_for
from ._http import DeliveryClient, HttpError
from ._secrets import SecretKeeper
from ._settings import DispatchSettings
from ._signing import signature_headers
from ._targets import TargetCache

__all__ = ["Sender", "redacted_url"]

log = logging.getLogger("thresher.webhooks")

_RETRY_AFTER_STATUSES = (429, 503)
_PORTS = {"http": 80, "https": 443}


def redacted_url(url: str) -> str:
    """Scheme, host and port only: paths and queries may hold secrets (Slack's URLs do)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class Sender:
    """Posts deliveries through one ``DeliveryClient`` (``_http``), ``per_host`` at a time per host."""

    def __init__(self, client: DeliveryClient, settings: DispatchSettings, keeper: SecretKeeper) -> None:
        self._client = client
        self._settings = settings
        self._keeper = keeper
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._targets = TargetCache()
        self._shown: dict[str, str] = {}

    def _redacted(self, url: str) -> str:
        shown = self._shown.get(url)
        if shown is None:
            if len(self._shown) > 1024:
                self._shown.clear()
            shown = self._shown[url] = redacted_url(url)
        return shown

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self._settings.per_host)
        return slot

    def _cut(self, data: bytes) -> str:
        limit = self._settings.log_body_limit
        text = data[:limit].decode(errors="replace")
        return text + ("…" if len(data) > limit else "")

    async def send(self, claim: DeliveryClaim) -> DeliveryResult:
        settings = self._settings
        body = body_for(claim.body, claim.format)
        sealed = [claim.secret] + ([claim.previous_secret] if claim.previous_secret else [])
        shown_url = self._redacted(claim.url)
        request_log = f"POST {shown_url}\n\n{self._cut(body)}"
        started = time.perf_counter()
        status: int | None = None
        response_log: str | None = None
        retry_after: float | None = None
        try:
            headers = {
                **signature_headers(claim.message_id, body, [self._keeper.open(s) for s in sealed]),
                "content-type": "application/json",
                "user-agent": settings.user_agent,
            }
            shown = "\n".join(f"{k}: {v}" for k, v in headers.items())
            request_log = f"POST {shown_url}\n{shown}\n\n{self._cut(body)}"
            target = await self._targets.target(claim.url, allow_private=claim.allow_private)
            url = target.url
            host = target.headers.get("Host") or url.netloc.decode()
            async with self._host_slot(host):
                started = time.perf_counter()
                tls_name = target.extensions.get("sni_hostname")
                response = await self._client.post(
                    key=(url.scheme, url.host, url.port or _PORTS[url.scheme], tls_name),
                    target=url.raw_path.decode("ascii"),
                    headers=[("host", host), *headers.items()],
                    body=body,
                    limit=settings.log_body_limit,
                    deadline=settings.timeout,
                )
            status = response.status
            response_log = f"{status}\n{self._cut(response.body)}" + ("…" if response.truncated else "")
            if status in _RETRY_AFTER_STATUSES:
                retry_after = _retry_after(response.headers.get("retry-after"))
            error = (
                None
                if 200 <= status < 300
                else (f"redirect ({status}) not followed" if 300 <= status < 400 else f"HTTP {status}")
            )
        except UnsafeTargetError as exc:
            error = f"refused: {exc}"
        except WebhookSecretError as exc:
            error = str(exc)
        except TimeoutError:
            error = f"no answer within {settings.timeout:g} s"
        except HttpError as exc:
            error = str(exc)
        duration = (time.perf_counter() - started) * 1000
        ok = error is None
        attempts = claim.attempts + 1
        delay = None if ok else settings.retry_delay(attempts)
        if delay is not None and retry_after is not None:
            delay = min(retry_after, settings.max_retry_after)
        if not ok:
            log.info("delivery %s to %s failed (%s)", claim.delivery_id, shown_url, error)
        return DeliveryResult(
            delivery_id=claim.delivery_id,
            subscription_id=claim.subscription_id,
            ok=ok,
            status_code=status,
            error=error,
            duration_ms=duration,
            request=request_log,
            response=response_log,
            retry_in=delay or 0.0,
            dead=not ok and delay is None,
        )
