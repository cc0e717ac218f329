"""What each job does: one sync of a connection, one token refresh, one roster apply.

The queue (procrastinate) decides who runs a job and when; the store still guards the work:
a sync holds the connection's run lease (``thresher.sync``, fenced commits), a refresh the
``credentials`` lease, and every request draws from the account's shared rate budget
(``thresher.connections.open_client``). A run that ends on a credentials error pauses its
connection with the reason instead of failing again on every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
from pathlib import Path
from typing import Any

import httpx

from thresher.connections import (
    ConnectionsError,
    ResolvedConnection,
    SecretBox,
    open_client,
    resolve,
)
from thresher.harvest import AsyncHarvest, CredentialsError, OAuthApp
from thresher.provision import WriteThrough, apply_plan, check_saved_plan, load_saved_plan
from thresher.store import (
    ConnectionSettings,
    ConnectionSettingsStore,
    LeaseHeldError,
    LeaseHolder,
    ServeRecords,
    Store,
    StoredConnection,
    StoreError,
    UnknownConnectionError,
    WebhookStore,
)
from thresher.sync import RosterSync, SyncBusyError, SyncOptions, SyncSupersededError

from ._alerts import REFRESH_REFUSED, REFUSED, UNREADABLE, paused_event
from ._schedule import JOB, next_wait
from ._settings import JobsSettings

__all__ = ["Runner", "SyncOutcome"]

log = logging.getLogger("thresher.jobs")
_CREDENTIALS = "credentials"  # the lease purpose thresher.connections refreshes under


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class SyncOutcome:
    """How one sync job ended: ``ok``, ``busy``, ``superseded``, ``partial`` (its time was up:
    re-deferred), ``paused`` (credentials refused), ``skipped`` (paused or gone) or ``failed``."""

    outcome: str
    kind: str = "incremental"
    changes: int = 0
    error: str | None = None

    @property
    def again(self) -> bool:
        """Whether the connection should be re-deferred at once (a run cut short)."""
        return self.outcome == "partial"


class _SharedTransport(httpx.AsyncBaseTransport):
    """One connection pool for every job of a worker: a client per job closes this wrapper, not
    the pool. Building a transport costs ~45 ms of CPU (its TLS context), as much as a whole
    incremental sync, and keep-alive connections to Harvest then outlive each job."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Left open for the next job; :meth:`Runner.aclose` closes the pool."""


class Runner:
    """The bodies of the jobs of one worker process, over one store."""

    def __init__(
        self, store: Store, settings: JobsSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.records = ServeRecords(store)
        self.configs = ConnectionSettingsStore(store)
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}"
        self._pool = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=30.0)
        )
        self._transport = _SharedTransport(self._pool)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _client(self, resolved: ResolvedConnection, tag: str) -> AsyncHarvest:
        # The job's tag in the User-Agent lets a sandbox's request log tell runs apart
        # (tests/jobs check that no two runs of one account ever interleave).
        agent = f"{resolved.settings.user_agent} thresher-worker/{self.holder} job/{tag}"
        tagged = dataclasses.replace(resolved, settings=resolved.settings.replace(user_agent=agent))
        return open_client(self.store, tagged, transport=self._transport)

    def pause(self, connection: StoredConnection, reason: str, *, cause: str) -> ConnectionSettings:
        """Pause ``connection`` with ``reason``: what an operator sees in ``thresher jobs`` and
        ``thresher connections config``, a warning in the log, and a ``connection.paused``
        webhook to the subscriptions that asked for it (docs/webhooks.md) with the fix.

        The event is queued before the pause is written: a worker killed between the two
        leaves the connection unpaused, and its next run pauses it and tells again (at least
        once), where the other order could pause it without anyone hearing. A connection
        paused already is not announced again."""
        now = _now()
        if not self.configs.get(connection.id).paused:
            with contextlib.suppress(StoreError):  # the pause matters more than its announcement
                WebhookStore(self.store).record_alert(
                    "connection.paused", connection_id=connection.id,
                    details=paused_event(connection, reason, cause, now),
                )
        log.warning("connection %s paused: %s", connection.name, reason)
        return self.configs.pause(connection.id, reason, now=now)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, connection_id: int, *, tag: str, full: bool = False) -> SyncOutcome:
        try:
            connection = await asyncio.to_thread(self.store.get_connection_by_id, connection_id)
        except UnknownConnectionError:
            return SyncOutcome("skipped", error="the connection was deleted")
        config = await asyncio.to_thread(self.configs.get, connection_id)
        if config.paused:
            return SyncOutcome("skipped", error=f"paused: {config.paused_reason or 'by an operator'}")
        started = _now()
        run_id = await asyncio.to_thread(
            self.records.start_run, connection.id, "sync", self.holder, started_at=started
        )
        # The next run is due an interval after this one really started, not after the claim
        # that queued it: a backlog spreads out instead of coming due again all at once.
        due = started + dt.timedelta(seconds=next_wait(config, self.settings.lead))
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(self.configs.postpone, connection.id, JOB, due_at=due)
        result = SyncOutcome("failed")
        report = None
        try:
            result, report = await self._sync(connection, config, tag=tag, full=full)
        except asyncio.CancelledError:
            result = SyncOutcome("failed", error="cancelled at shutdown; the next run resumes")
            raise
        except Exception as exc:
            result = SyncOutcome("failed", error=str(exc) or type(exc).__name__)
            raise
        finally:
            with contextlib.suppress(StoreError):
                await asyncio.shield(asyncio.to_thread(
                    self.records.finish_run, run_id, result.outcome, finished_at=_now(),
                    users_seen=report.users_seen if report else 0, changes=result.changes,
                    requests=report.requests if report else 0,
                    duration_s=(_now() - started).total_seconds(), error=result.error, kind=result.kind,
                ))
        return result

    async def _sync(
        self, connection: StoredConnection, config: ConnectionSettings, *, tag: str, full: bool
    ) -> tuple[SyncOutcome, Any]:
        try:
            resolved = await asyncio.to_thread(resolve, self.store, connection.name)
        except ConnectionsError as exc:
            self.pause(connection, f"its credentials cannot be read: {exc}", cause=UNREADABLE)
            return SyncOutcome("paused", error=str(exc)), None
        options = SyncOptions(
            reconcile_every=dt.timedelta(seconds=config.reconcile_s),
            teammates=config.teammates,
            lease_ttl=self.settings.lease_ttl,
            per_page=self.settings.page_size,
        )
        async with self._client(resolved, tag) as client:
            engine = RosterSync(self.store, client, connection, options)
            try:
                report = await asyncio.wait_for(engine.run(full=full), self.settings.max_run_s)
            except TimeoutError:
                # Pages already read stay committed; the re-deferred job resumes from them.
                return SyncOutcome("partial", error=f"yielded after {self.settings.max_run_s:g} s"), None
            except SyncBusyError:
                return SyncOutcome("busy"), None  # a `thresher sync` or a serve process runs it
            except SyncSupersededError as exc:
                return SyncOutcome("superseded", error=str(exc)), None
            except CredentialsError as exc:
                self.pause(connection, f"Harvest refused its credentials: {exc}", cause=REFUSED)
                return SyncOutcome("paused", error=str(exc)), None
        return SyncOutcome("ok", kind=report.kind, changes=report.changes), report

    # -- token refresh -----------------------------------------------------------------------

    async def refresh(self, connection_id: int) -> str:
        """Refresh an OAuth token ``refresh_ahead`` seconds before it expires, under the
        connection's credentials lease, re-reading what another process may have saved."""
        try:
            connection = await asyncio.to_thread(self.store.get_connection_by_id, connection_id)
            resolved = await asyncio.to_thread(resolve, self.store, connection.name)
        except (UnknownConnectionError, ConnectionsError):
            return "skipped"
        creds = resolved.credentials
        ahead = self.settings.refresh_ahead
        if (
            creds is None or creds.kind != "oauth" or not (creds.client_id and creds.client_secret)
            or creds.oauth_token.refresh_token is None or not creds.oauth_token.expires_within(ahead)
        ):
            return "not due"
        try:
            lease = await asyncio.to_thread(
                self.store.acquire_lease, connection.id, _CREDENTIALS, LeaseHolder(), ttl=30.0
            )
        except LeaseHeldError:
            return "busy"  # another process refreshes it now
        try:
            fresh = (await asyncio.to_thread(resolve, self.store, connection.name)).credentials
            if fresh is None or not fresh.oauth_token.expires_within(ahead):
                return "refreshed elsewhere"
            assert fresh.client_id
            assert fresh.client_secret
            assert fresh.oauth_token.refresh_token
            app = OAuthApp(fresh.client_id, fresh.client_secret, resolved.settings.id_url,
                           resolved.settings.user_agent)
            try:
                new = await app.refresh(fresh.oauth_token.refresh_token)
            except CredentialsError as exc:
                self.pause(connection, f"Harvest refused its refresh token: {exc}", cause=REFRESH_REFUSED)
                return "paused"
            blob = SecretBox.from_env().seal(fresh.with_token(new))
            await asyncio.to_thread(self.store.update_connection, connection.name, credentials_ref=blob)
            log.info("refreshed the OAuth token of %s ahead of its expiry", connection.name)
            return "refreshed"
        finally:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.store.release_lease, lease)

    # -- roster applies ----------------------------------------------------------------------

    async def apply(self, connection_id: int, plan_path: str, *, tag: str) -> dict[str, int]:
        """Apply a saved plan (``thresher plan --out``) after a sync, refusing a stale one."""
        connection = await asyncio.to_thread(self.store.get_connection_by_id, connection_id)
        saved = await asyncio.to_thread(load_saved_plan, Path(plan_path))
        resolved = await asyncio.to_thread(resolve, self.store, connection.name)
        async with self._client(resolved, tag) as client:
            options = SyncOptions(lease_ttl=self.settings.lease_ttl, per_page=self.settings.page_size)
            await RosterSync(self.store, client, connection, options).run(wait=True, wait_timeout=60)
            await asyncio.to_thread(check_saved_plan, self.store, connection, saved, plan_path)
            return await apply_plan(WriteThrough(client, self.store, connection), saved.plan)
