"""``Sandbox``: one simulated Harvest account, its settings and its data, and the app serving it.

Defining the app is separate from running it (docs/architecture.md, house style 5):
``Sandbox(config).app`` is a plain Starlette application for ``httpx.ASGITransport`` (built by
``_app.py``, which reaches this class only through the protocols its handlers declare);
``run_sandbox`` (``_server.py``) puts it on a port. Everything here runs under ``Sandbox.lock``, so
in-process inspection from another thread sees consistent data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from ._app import build_app
from ._clock import SandboxClock, format_date, format_ts
from ._collector import collector_paused
from ._config import SandboxConfig
from ._errors import SandboxConfigError, SandboxStateError
from ._faults import FaultConfig, FaultDecision, FaultInjector
from ._host import SandboxCredentials, SandboxSnapshot
from ._ratelimit import RateLimiter
from ._records import (
    AccessToken,
    Client,
    Expense,
    Invitation,
    Project,
    Task,
    TaskAssignment,
    TimeEntry,
    User,
)
from ._render import warm_user_json
from ._seed import derive_account_ids, generate
from ._state import SandboxState

__all__ = ["Sandbox"]

#: How far the control plane may move the clock: 100 years either way keeps every timestamp
#: printable and every expiry computable.
MAX_CLOCK_OFFSET = 100 * 366 * 86400

#: Seconds between two saves of the state file while changes keep coming; at least ten times
#: what the last save took, so a big account (seconds per save) spends <= 10% of its time saving.
_SAVE_INTERVAL = 1.0


def _derived(seed: int, label: str, size: int) -> str:
    digest = hashlib.sha256(f"thresher-sandbox/{seed}/{label}".encode()).digest()
    digest += hashlib.sha256(digest).digest()
    text = base64.b64encode(digest).decode()
    return "".join(ch for ch in text if ch.isalnum())[:size]


def _credentials(config: SandboxConfig) -> SandboxCredentials:
    seed = config.seed
    harvest_id, forecast_id = derive_account_ids(seed)
    account_id = config.account_id or harvest_id
    return SandboxCredentials(
        account_id=account_id,
        forecast_account_id=config.forecast_account_id or forecast_id,
        # Harvest's personal access tokens look like "<digits>.pt.<secret>".
        admin_token=config.admin_token or f"{account_id}.pt.{_derived(seed, 'admin', 60)}",
        manager_token=config.manager_token or f"{account_id}.pt.{_derived(seed, 'manager', 60)}",
        member_token=config.member_token or f"{account_id}.pt.{_derived(seed, 'member', 60)}",
        oauth_client_id=config.oauth_client_id or _derived(seed, "client-id", 24),
        oauth_client_secret=config.oauth_client_secret or _derived(seed, "client-secret", 64),
        oauth_redirect_uri=config.oauth_redirect_uri,
        control_token=config.control_token or f"sandbox-control-{_derived(seed, 'control', 32)}",
    )


class Sandbox:
    """A local Harvest account: seeded data, the API and identity endpoints, and knobs.

    ``Sandbox(config).app`` is the ASGI app; ``.credentials`` the tokens; ``.state`` the data
    (typed, for in-process inspection; change it through the methods below or the HTTP API).
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """``monotonic`` is the rate limiter's clock; tests pass a fake one to pace exactly."""
        self.base_config = config or SandboxConfig()
        self._monotonic = monotonic
        self.config = self.base_config
        self.credentials = _credentials(self.base_config)
        self.clock = SandboxClock()
        self.lock = threading.RLock()
        self._limiter: RateLimiter | None = None
        self._reports_limiter: RateLimiter | None = None
        self._faults = FaultInjector(FaultConfig.coerce(self.config.faults), self.config.seed)
        self._dirty = False
        self._last_save = 0.0
        self._save_cost = 0.0
        self._save_handle: asyncio.TimerHandle | None = None
        self.snapshots: dict[str, SandboxSnapshot] = {}
        self._configure_limiter()
        state_file = self._state_path()
        if state_file is not None and state_file.exists():
            self.state = self._read_state(state_file)
        else:
            self.state = self._generate(self.config.users, self.config.seed)
            if state_file is not None:
                self.save()
        self.app = build_app(self, lifespan=self._lifespan)

    # -- public knobs -----------------------------------------------------------------------------
    def set_faults(self, faults: str | FaultConfig | None) -> FaultConfig:
        """Replace the fault spec (see ``thresher.sandbox``); its seeded sequence starts over."""
        parsed = FaultConfig.coerce(faults)
        self._faults = FaultInjector(parsed, self.config.seed)
        return parsed

    @property
    def faults(self) -> FaultConfig:
        return self._faults.config

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter the settings call for (None: no limit); rebuilt when they change."""
        return self._limiter

    @property
    def reports_limiter(self) -> RateLimiter | None:
        """The Reports API's own limiter (§4: 100 per 15 minutes), or None."""
        return self._reports_limiter

    def draw_fault(self) -> FaultDecision:
        """The fault the next API or identity request meets (see ``thresher.sandbox``)."""
        return self._faults.draw()

    def set_clock_offset(self, seconds: float) -> None:
        """Move the sandbox's wall clock (token expiry, ``updated_at``, rate ``start_date`` checks)
        by at most ``MAX_CLOCK_OFFSET`` either way; anything else (NaN, 1e300) raises
        ``SandboxConfigError`` and leaves the clock as it was."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or abs(seconds) > MAX_CLOCK_OFFSET:
            raise SandboxConfigError(
                f"clock offset must be a number of seconds within ±{MAX_CLOCK_OFFSET}, got {seconds!r}",
                hint="100 years either way at most: timestamps must stay between 1870 and 2120.",
            )
        with self.lock:
            self.clock.offset = float(seconds)
            self.mark_changed()

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change settings at run time (``rate_limit``, ``seat_limit``, ``latency_ms``, ...);
        ``reset()`` returns to the config the sandbox was built with."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(SandboxConfig)}
        if unknown:
            raise SandboxConfigError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        with self.lock:
            self.config = dataclasses.replace(self.config, **changes)
            if {"rate_limit", "rate_limit_scope", "rate_limit_window", "time_scale",
                    "reports_rate_limit"} & changes.keys():
                self._configure_limiter()
            if "faults" in changes:
                self.set_faults(self.config.faults)
            if "request_log_size" in changes:
                self.state.request_log = deque(self.state.request_log, maxlen=self.config.request_log_size)
            if "outbox_size" in changes:
                self.state.trim_outbox(self.config.outbox_size)
        return self.config

    def reset(self, *, users: int | None = None, seed: int | None = None) -> None:
        """Back to a freshly seeded account (``users``/``seed`` default to the config's) with the
        original config, no clock offset, the config's faults, empty outbox and request log.
        Credentials stay the same."""
        with self.lock:
            self.config = self.base_config
            self.clock.offset = 0.0
            self.state = self._generate(
                users or self.config.users, self.config.seed if seed is None else seed
            )
            self._configure_limiter()
            self.set_faults(self.config.faults)
            self.mark_changed()

    def snapshot(self) -> SandboxSnapshot:
        with self.lock:
            # An exact-size copy: orjson's result keeps its working buffer, up to twice the data.
            return SandboxSnapshot(bytes(memoryview(orjson.dumps(self.state.to_dict()))))

    def restore(self, snapshot: SandboxSnapshot) -> None:
        with self.lock:
            log = self.state.request_log
            with collector_paused():  # the parsed rows are as many objects as the state
                data = orjson.loads(snapshot.data)
                self.state = SandboxState.from_dict(data, self.clock, log_size=self.config.request_log_size)
            warm_user_json(self.state)
            self.state.request_log = log
            self.mark_changed()

    def save(self, path: str | Path | None = None) -> Path:
        """Write the state as JSON (atomically) to ``path`` or the config's ``state_file``."""
        target = Path(path) if path is not None else self._state_path()
        if target is None:
            raise SandboxStateError("No state file to save to", hint="Pass a path or set state_file.")
        started = time.monotonic()
        with self.lock:
            data = orjson.dumps(self.state.to_dict())
            self._dirty = False
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # 0600 from the first byte: the state holds the sandbox's tokens and OAuth secrets.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o600)  # a file left over from an earlier crash keeps its old mode
            os.replace(tmp, target)
        except OSError as exc:
            raise SandboxStateError(f"Cannot write the sandbox state to {target}: {exc.strerror}") from exc
        self._last_save = time.monotonic()
        self._save_cost = self._last_save - started
        return target

    def load(self, path: str | Path | None = None) -> None:
        """Replace the data with a state file written by ``save()``."""
        source = Path(path) if path is not None else self._state_path()
        if source is None:
            raise SandboxStateError("No state file to load", hint="Pass a path or set state_file.")
        state = self._read_state(source)
        with self.lock:
            state.request_log = self.state.request_log
            self.state = state

    def create_project(
        self,
        name: str,
        *,
        client_name: str | None = None,
        code: str | None = None,
        task_names: tuple[str, ...] = ("Development", "Meetings"),
    ) -> tuple[Project, list[int]]:
        """Create a project (the API's ``/v2/projects`` only reads); users with
        ``has_access_to_all_future_projects`` are assigned to it (§7.4). Returns the project and
        the ids of the assignments made."""
        with self.lock:
            state = self.state
            now = self.clock.stamp()
            client = next((c for c in state.clients.values() if c.name == client_name), None)
            if client is None:
                client = Client(
                    state.next_id("client"), client_name or f"{name} Client", "USD", True, now, now
                )
                state.clients[client.id] = client
            task_ids = []
            for task_name in task_names:
                task = next((t for t in state.tasks.values() if t.name == task_name), None)
                if task is None:
                    task = Task(state.next_id("task"), task_name, True, now, now)
                    state.tasks[task.id] = task
                task_ids.append(task.id)
            pid = state.next_id("project")
            tasks = [
                TaskAssignment(state.next_id("task_assignment"), tid, state.tasks[tid].billable_by_default,
                               True, None, None, now, now)
                for tid in task_ids
            ]
            code = code or f"P{pid % 10000:04d}"
            project = Project(pid, client.id, name, code, True, True, tasks, now, now)
            assigned = state.add_project(project)
            self.mark_changed()
            return project, [a.id for a in assigned]

    def add_time_entry(self, user_id: int, project_id: int | None = None, *, hours: float = 1.0) -> TimeEntry:
        """Record time for a user (on one of their projects unless ``project_id`` is given); a
        user with time cannot be deleted (§6.4)."""
        with self.lock:
            state = self.state
            user = state.users[user_id]
            pid = project_id if project_id is not None else self._some_project(user)
            project = state.projects[pid]
            now = self.clock.stamp()
            entry = TimeEntry(state.next_id("time_entry"), user.id, pid, project.task_assignments[0].task_id,
                              format_date(self.clock.now()), hours, "", now, now)
            state.add_time_entry(entry)
            self.mark_changed()
            return entry

    def add_expense(
        self, user_id: int, project_id: int | None = None, *, total_cost: float = 10.0
    ) -> Expense:
        """Record an expense for a user; like time, it makes the user not removable (§6.4)."""
        with self.lock:
            state = self.state
            user = state.users[user_id]
            pid = project_id if project_id is not None else self._some_project(user)
            now = self.clock.stamp()
            expense = Expense(state.next_id("expense"), user.id, pid, format_date(self.clock.now()),
                              total_cost, "", now, now)
            state.add_expense(expense)
            self.mark_changed()
            return expense

    def issue_token(self, user_id: int) -> str:
        """A new personal access token for any user (e.g. a manager without teammates)."""
        with self.lock:
            if user_id not in self.state.users:
                raise SandboxConfigError(f"No user {user_id} in the sandbox")
            token = f"{self.state.account_id}.pt.{secrets.token_urlsafe(45)}"
            self.state.access_tokens[token] = AccessToken(token, user_id, "pat", "all", None)
            self.mark_changed()
            return token

    def revoke_personal_tokens(self) -> int:
        """Invalidate every personal access token, as requiring SAML SSO does (gotcha 16)."""
        with self.lock:
            tokens = [t for t, entry in self.state.access_tokens.items() if entry.kind == "pat"]
            for token in tokens:
                del self.state.access_tokens[token]
            self.mark_changed()
            return len(tokens)

    def user_for_token(self, token: str) -> User | None:
        entry = self.state.access_tokens.get(token)
        return None if entry is None else self.state.users.get(entry.user_id)

    def record_invitation(self, user: User, origin: str) -> Invitation:
        """§8.1: the invitation email ``POST /v2/users`` sends, kept in the outbox instead."""
        state = self.state
        invitation = Invitation(
            id=state.next_id("invitation"),
            user_id=user.id,
            to=user.email,
            name=user.name,
            subject=f"You're invited to join {state.company.name} on Harvest",
            body=(
                f"Hi {user.first_name},\n\nYou have been invited to track time with "
                f"{state.company.name} on Harvest. Accept the invitation to set your password:\n"
                f"{origin}/sandbox/invitations/{user.id}\n"
            ),
            sent_at=format_ts(self.clock.now()),
        )
        state.outbox.append(invitation)
        state.trim_outbox(self.config.outbox_size)
        return invitation

    # -- internals --------------------------------------------------------------------------------
    def _some_project(self, user: User) -> int:
        assignments = self.state.assignments_by_user.get(user.id)
        if assignments:
            return self.state.user_assignments[assignments[0]].project_id
        return min(self.state.projects)

    def _state_path(self) -> Path | None:
        return None if self.config.state_file is None else Path(self.config.state_file)

    def _read_state(self, path: Path) -> SandboxState:
        try:
            with collector_paused():  # the parsed rows are as many objects as the state
                data = orjson.loads(path.read_bytes())
                state = SandboxState.from_dict(data, self.clock, log_size=self.config.request_log_size)
            warm_user_json(state)
            return state
        except OSError as exc:
            raise SandboxStateError(f"Cannot read the sandbox state {path}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(
                f"The sandbox state {path} is not a state file this version can read ({exc})",
                hint="Delete the file to start from a freshly seeded account.",
            ) from exc

    def _generate(self, users: int, seed: int) -> SandboxState:
        creds = self.credentials
        state = generate(
            self.config, self.clock, users=max(3, users), seed=seed,
            tokens=(creds.admin_token, creds.manager_token, creds.member_token),
            account_ids=(creds.account_id, creds.forecast_account_id),
        )
        warm_user_json(state)
        return state

    def _configure_limiter(self) -> None:
        rule = self.config.rate_limit_rule
        mode = self.config.rate_limit_window
        self._limiter = None if rule is None else RateLimiter(
            rule[0], rule[1], mode=mode, clock=self._monotonic
        )
        reports = self.config.reports_rate_limit_rule
        self._reports_limiter = None if reports is None else RateLimiter(
            reports[0], reports[1], mode=mode, clock=self._monotonic
        )

    def mark_changed(self) -> None:
        """Note a change: the state file is written at most every second, and at shutdown."""
        self._dirty = True
        # A time entry's JSON embeds its user, project, task and assignments: any change may
        # touch it, and a cache that outlived one would serve stale names.
        self.state.time_entry_json.clear()
        if self.config.state_file is None:
            return
        wait = self._last_save + max(_SAVE_INTERVAL, 10 * self._save_cost) - time.monotonic()
        if wait <= 0:
            self.save()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # outside the server: the next change or shutdown saves
        if self._save_handle is None or self._save_handle.cancelled():
            self._save_handle = loop.call_later(wait, self._deferred_save)

    def _deferred_save(self) -> None:
        self._save_handle = None
        if self._dirty:
            self.save()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self._dirty and self.config.state_file is not None:
            self.save()
