"""Scheduled background work: a sync per connection on its own interval, token refresh ahead of
expiry, and rate-budget headroom samples.

Several ``serve`` processes may share one store (on PostgreSQL, several machines). The schedule
lives in the store (``serve_schedules``): a due job is claimed with one conditional update, so
exactly one process runs each scheduled sync and the others skip it; the sync itself still holds
the connection's run lease (``thresher.sync``), and every request draws from the account's shared
rate budget (``thresher.connections.open_client``). Full reconciliations come from the sync's own
``reconcile_every`` (``SyncOptions``): a run is a full listing whenever one is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable

import httpx

from thresher.connections import (
    ResolvedConnection,
    SecretBox,
    open_client,
    resolve,
)
from thresher.harvest import AsyncHarvest, OAuthApp, RequestRecord
from thresher.store import (
    ConnectionSettingsStore,
    LeaseHeldError,
    LeaseHolder,
    ServeRecords,
    Store,
    StoredConnection,
    StoreError,
)
from thresher.sync import RosterSync, SyncBusyError, SyncOptions, SyncSupersededError

from ._metrics import Metrics
from ._settings import ServeSettings
from ._usage import UsageRecorder

__all__ = ["ConnectionState", "RunEnded", "Scheduler"]

log = logging.getLogger("thresher.serve")
JOB = "sync"
_CREDENTIALS = "credentials"  # the lease purpose thresher.connections refreshes under


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class RunEnded:
    """How one scheduled run went (for ``Scheduler.on_run``: the OpenTelemetry span of it)."""

    connection: str
    kind: str
    outcome: str
    started: dt.datetime
    duration_s: float
    changes: int
    error: str | None


@dataclasses.dataclass
class ConnectionState:
    """What this process knows of a connection right now (the store has the rest)."""

    connection: StoredConnection
    interval: float
    reconcile_every: float
    max_lag: float
    enabled: bool = True
    running: bool = False
    last_error: str | None = None
    credential_expires_at: dt.datetime | None = None
    credential_kind: str | None = None


class Scheduler:
    """Background work of one ``serve`` process over every connection of the store."""

    def __init__(
        self,
        store: Store,
        settings: ServeSettings,
        metrics: Metrics,
        usage: UsageRecorder,
        *,
        resolved: dict[str, ResolvedConnection] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tick: float | None = None,
    ) -> None:
        self.store = store
        self.records = ServeRecords(store)
        self.settings = settings
        self.metrics = metrics
        self.usage = usage
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}"
        #: Told about every run that ended (``_telemetry``), whatever its outcome.
        self.on_run: Callable[[RunEnded], None] | None = None
        self.states: dict[str, ConnectionState] = {}
        #: Free places in each connection's shared rate budget at the last sample.
        self.headroom: dict[str, int] = {}
        self._resolved_given = resolved or {}
        self._transport = transport
        self._clients: dict[str, AsyncHarvest] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        shortest = min([settings.sync.interval, *(c.interval or 1e9 for c in settings.connections.values())])
        self.tick = tick if tick is not None else max(0.2, min(1.0, shortest / 4))

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: claim due syncs, run them; then wait for the runs in flight."""
        refreshed = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - refreshed > 10:
                    await asyncio.to_thread(self._refresh_connections)
                    refreshed = time.monotonic()
                try:
                    await self._claim_due()
                except StoreError as exc:
                    log.warning("could not read the schedule: %s", exc)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._wake), self.tick)
        finally:
            await self._drain()

    async def _drain(self) -> None:
        # Called on shutdown: runs in flight get the shutdown timeout (enforced by the service,
        # which cancels this task); a cancelled run's pages stay committed and the next resumes.
        if self._tasks:
            log.info("waiting for %d sync run(s) in flight", len(self._tasks))
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    def cancel_runs(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _refresh_connections(self) -> None:
        now = _now()
        seen = set()
        for connection in self.store.list_connections():
            seen.add(connection.name)
            interval, reconcile, max_lag = self.settings.schedule(connection.name)
            state = self.states.get(connection.name)
            if state is None:
                state = self.states[connection.name] = ConnectionState(
                    connection, interval, reconcile, max_lag
                )
                self.records.ensure_schedule(connection.id, JOB, due_at=now)
            state.connection = connection
            state.enabled = self.settings.enabled(connection.name)
            if connection.credentials_ref is None and connection.name not in self._resolved_given:
                # The "env" connection, or one recorded without credentials.
                state.credential_kind = "environment" if connection.name == "env" else None
        for name in set(self.states) - seen:
            del self.states[name]

    async def _claim_due(self) -> None:
        due = await asyncio.to_thread(self.records.schedules)
        now = _now()
        ready = [
            state for state in list(self.states.values())
            if state.enabled and not state.running
            and (when := due.get((state.connection.id, JOB))) is not None and when <= now
        ]
        if not ready:
            return
        # Read when something is due, so a pause (the status API, 'connections config --pause',
        # a worker that met refused credentials) holds from the next claim on.
        configs = await asyncio.to_thread(ConnectionSettingsStore(self.store).all)
        for state in ready:
            config = configs.get(state.connection.id)
            if config is not None and config.paused:
                continue
            next_due = now + dt.timedelta(seconds=state.interval)
            claimed = await asyncio.to_thread(
                self.records.claim, state.connection.id, JOB, self.holder, now=now, next_due=next_due
            )
            if claimed:
                state.running = True
                task = asyncio.create_task(self._run(state), name=f"sync:{state.connection.name}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def sync_now(self, connection: StoredConnection) -> None:
        """Make the connection's sync due now (for whichever process claims it first)."""
        self.records.set_due(connection.id, JOB, due_at=_now())
        self._wake.set()

    # -- one run -----------------------------------------------------------------------------

    def resolved(self, name: str) -> ResolvedConnection:
        given = self._resolved_given.get(name)
        return given if given is not None else resolve(self.store, name)

    def client(self, state: ConnectionState) -> AsyncHarvest:
        name = state.connection.name
        client = self._clients.get(name)
        if client is None:
            resolved = self.resolved(name)
            creds = resolved.credentials
            state.credential_kind = creds.kind if creds else "environment"
            state.credential_expires_at = creds.expires_at if creds else None

            def hook(record: RequestRecord) -> None:
                self.metrics.harvest_request(name, record)
                self.usage.count("harvest", name, record.status_code)

            client = self._clients[name] = open_client(
                self.store, resolved, transport=self._transport, on_request=hook
            )
        return client

    async def _run(self, state: ConnectionState) -> None:
        connection = state.connection
        started = _now()
        run_id = await asyncio.to_thread(
            self.records.start_run, connection.id, "sync", self.holder, started_at=started
        )
        outcome, error, kind = "failed", None, "incremental"
        report = None
        try:
            options = SyncOptions(
                reconcile_every=dt.timedelta(seconds=state.reconcile_every),
                lease_ttl=self.settings.sync.lease_ttl,
            )
            engine = RosterSync(self.store, self.client(state), connection, options)
            report = await engine.run()
            outcome, kind = "ok", report.kind
        except SyncBusyError:
            # Someone else (a `thresher sync`, another serve that claimed a "sync now") runs it.
            outcome = "busy"
        except SyncSupersededError as exc:
            outcome, error = "superseded", str(exc)
        except asyncio.CancelledError:
            outcome, error = "failed", "cancelled at shutdown; the next run resumes"
            raise
        except Exception as exc:  # the next run retries; the service keeps serving
            error = str(exc) or type(exc).__name__
            log.warning("sync of %s failed: %s", connection.name, error)
            # A fresh client next time (its token may have changed); close this one's sockets.
            failed = self._clients.pop(connection.name, None)
            if failed is not None:
                with contextlib.suppress(Exception):
                    await failed.aclose()
        finally:
            state.running = False
            state.last_error = error
            duration = report.duration_s if report else (_now() - started).total_seconds()
            self.metrics.sync_runs.labels(connection.name, kind, outcome).inc()
            if report is not None:
                self.metrics.sync_duration.labels(connection.name, kind).observe(report.duration_s)
            if self.on_run is not None:
                self.on_run(RunEnded(connection.name, kind, outcome, started, duration,
                                     report.changes if report else 0, error))
            with contextlib.suppress(StoreError):
                await asyncio.shield(asyncio.to_thread(
                    self.records.finish_run, run_id, outcome, finished_at=_now(),
                    users_seen=report.users_seen if report else 0,
                    changes=report.changes if report else 0,
                    requests=report.requests if report else 0,
                    duration_s=duration, error=error, kind=kind,
                ))

    # -- token refresh -----------------------------------------------------------------------

    async def refresh_tokens(self, stop: asyncio.Event, every: float | None = None) -> None:
        """Refresh OAuth tokens ``sync.refresh_ahead`` seconds before they expire, once per
        store: under the connection's credentials lease, re-reading what another process saved.
        Looks every ``every`` seconds (None: ``sync.refresh_check``)."""
        every = every if every is not None else self.settings.sync.refresh_check
        while not stop.is_set():
            for state in list(self.states.values()):
                try:
                    await self._refresh_one(state)
                except Exception as exc:  # the client still refreshes on expiry by itself
                    log.warning("token refresh of %s failed: %s", state.connection.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _refresh_one(self, state: ConnectionState) -> None:
        name = state.connection.name
        if name in self._resolved_given or state.connection.credentials_ref is None:
            return
        resolved = await asyncio.to_thread(resolve, self.store, name)
        creds = resolved.credentials
        if creds is None or creds.kind != "oauth":
            return
        state.credential_kind, state.credential_expires_at = creds.kind, creds.expires_at
        ahead = self.settings.sync.refresh_ahead
        token = creds.oauth_token
        if not token.expires_within(ahead) or not (creds.client_id and creds.client_secret):
            return
        if token.refresh_token is None:
            return
        holder = LeaseHolder()
        try:
            lease = await asyncio.to_thread(
                self.store.acquire_lease, state.connection.id, _CREDENTIALS, holder, ttl=30.0
            )
        except LeaseHeldError:
            return  # another process refreshes it now
        try:
            fresh = (await asyncio.to_thread(resolve, self.store, name)).credentials
            if fresh is None or not fresh.oauth_token.expires_within(ahead):
                return  # saved by another process meanwhile
            assert fresh.client_id
            assert fresh.client_secret
            assert fresh.oauth_token.refresh_token
            app = OAuthApp(fresh.client_id, fresh.client_secret, resolved.settings.id_url,
                           resolved.settings.user_agent)
            new = await app.refresh(fresh.oauth_token.refresh_token)
            blob = SecretBox.from_env().seal(fresh.with_token(new))
            await asyncio.to_thread(self.store.update_connection, name, credentials_ref=blob)
            state.credential_expires_at = new.expires_at
            log.info("refreshed the OAuth token of %s ahead of its expiry", name)
        finally:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.store.release_lease, lease)

    # -- rate-budget headroom ----------------------------------------------------------------

    async def sample_headroom(self, stop: asyncio.Event, every: float = 15.0) -> None:
        while not stop.is_set():
            for name, client in list(self._clients.items()):
                state = self.states.get(name)
                if state is None:
                    continue
                try:
                    await asyncio.to_thread(self._sample, state, client)
                except StoreError as exc:
                    log.debug("headroom sample of %s failed: %s", name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    def _sample(self, state: ConnectionState, client: AsyncHarvest) -> None:
        s = client.settings
        budget = self.store.rate_budget(
            f"{s.base_url} account {s.account_id}", limit=s.rate_limit, window=s.window
        )
        slots = budget.state().slots
        now = time.time()
        used = sum(1 for sent in slots if sent < 0 or sent > now - s.window)
        headroom = max(s.rate_limit - used, 0)
        self.metrics.budget_headroom.labels(state.connection.name).set(headroom)
        self.headroom[state.connection.name] = headroom
        at = _now()
        self.records.add_headroom(
            state.connection.id, sampled_at=at, headroom=headroom, rate_limit=s.rate_limit,
            keep_after=at - dt.timedelta(days=1),
        )


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()

