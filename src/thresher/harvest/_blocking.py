"""``Harvest``: the blocking facade over ``AsyncHarvest`` (docs/architecture.md: write async once).

Each method is one line handing the async method's coroutine to a private event loop in a daemon
thread and waiting for it; async iterators become iterators that pull one item at a time, so a
listing stays lazy. No behaviour lives here: ``tests/harvest/test_blocking.py`` checks that every
public ``AsyncHarvest`` method has a same-named, same-signature twin, and each twin takes its
docstring from the async method when the module loads (``_share_docstrings``).

A blocking transport (``httpx.HTTPTransport``, any ``httpx.BaseTransport``) is accepted too: its
exchanges run in worker threads of the background loop (``ThreadedTransport``).

The loop runs in a daemon thread of its own (not a thread-pool worker) so that a facade nobody
closed cannot keep the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx

from ._client import AsyncHarvest
from ._models import (
    Account,
    Company,
    IdentityAccounts,
    ProjectAssignment,
    Rate,
    Role,
    Teammate,
    User,
    UserAssignment,
)
from ._pagination import Page
from ._ratelimit import LimiterRegistry, SharedBudget
from ._requests import UserAssignmentCreate, UserAssignmentUpdate, UserCreate, UserUpdate
from ._retry import RetryPolicy
from ._settings import HarvestSettings
from ._transport import RequestHook, ThreadedTransport
from ._work_models import (
    Client,
    Expense,
    Project,
    ProjectTaskAssignment,
    Task,
    TeamTimeResult,
    TimeEntry,
)

__all__ = ["Harvest"]

T = TypeVar("T")


class _LoopThread:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="thresher-harvest-sync", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C in the calling thread: stop the work too
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _shutdown(thread: _LoopThread, client: AsyncHarvest) -> None:
    if thread.loop.is_closed():
        return
    try:
        thread.run(client.aclose())
    finally:
        thread.stop()


async def _next(iterator: AsyncIterator[T]) -> list[T]:
    """The next item as a one-item list, or an empty list at the end."""
    try:
        return [await anext(iterator)]
    except StopAsyncIteration:
        return []


class Harvest:
    """Blocking twin of ``AsyncHarvest``: same constructor, same method names and arguments.

    ``with Harvest(settings) as harvest: harvest.get_user(5)``; listings return iterators.
    ``transport`` may also be a blocking ``httpx.BaseTransport`` such as ``httpx.HTTPTransport``.
    """

    def __init__(
        self,
        settings: HarvestSettings | None = None,
        *,
        access_token: str | None = None,
        account_id: int | None = None,
        user_agent: str | None = None,
        base_url: str | None = None,
        id_url: str | None = None,
        per_page: int | None = None,
        timeout: float | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        reports_rate_limit: int | None = None,
        reports_rate_window: float | None = None,
        time_scale: float | None = None,
        max_in_flight: int | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        limiter_registry: LimiterRegistry | None = None,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
        on_request: RequestHook | None = None,
        shared_budget: SharedBudget | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            transport = ThreadedTransport(transport)
        # Built here, so configuration errors surface before any thread starts.
        self._client = AsyncHarvest(
            settings,
            access_token=access_token, account_id=account_id, user_agent=user_agent,
            base_url=base_url, id_url=id_url, per_page=per_page, timeout=timeout,
            rate_limit=rate_limit, rate_window=rate_window,
            reports_rate_limit=reports_rate_limit, reports_rate_window=reports_rate_window,
            time_scale=time_scale, max_in_flight=max_in_flight,
            transport=transport, limiter_registry=limiter_registry, retry=retry, auth=auth,
            on_request=on_request, shared_budget=shared_budget,
        )
        self._thread = _LoopThread()
        self._finalizer = weakref.finalize(self, _shutdown, self._thread, self._client)

    @property
    def settings(self) -> HarvestSettings:
        """The settings the client was built with (after the keyword overrides)."""
        return self._client.settings

    def __repr__(self) -> str:
        return f"Harvest({self._client.settings!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the background loop (idempotent)."""
        self._finalizer()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._thread.run(coro)

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                item = self._thread.run(_next(iterator))
                if not item:
                    return
                yield item[0]
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and not self._thread.loop.is_closed():
                self._thread.run(aclose())

    # -- generic ----------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None
    ) -> Any:
        return self._run(self._client.request(method, path, params=params, json=json))

    def request_paginated(
        self, path: str, *, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        return self._iterate(self._client.request_paginated(path, params=params))

    # -- users (§6) -------------------------------------------------------------------------------
    def user_pages(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None,
        per_page: int | None = None, start_url: str | None = None,
    ) -> Iterator[Page[User]]:
        return self._iterate(self._client.user_pages(
            is_active=is_active, updated_since=updated_since, per_page=per_page,
            start_url=start_url))

    def list_users(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None,
        per_page: int | None = None,
    ) -> Iterator[User]:
        return self._iterate(self._client.list_users(
            is_active=is_active, updated_since=updated_since, per_page=per_page))

    def get_user(self, user_id: int) -> User:
        return self._run(self._client.get_user(user_id))

    def me(self) -> User:
        return self._run(self._client.me())

    def create_user(self, user: UserCreate | Mapping[str, Any]) -> User:
        return self._run(self._client.create_user(user))

    def update_user(self, user_id: int, changes: UserUpdate | Mapping[str, Any]) -> User:
        return self._run(self._client.update_user(user_id, changes))

    def archive_user(self, user_id: int) -> User:
        return self._run(self._client.archive_user(user_id))

    def restore_user(self, user_id: int) -> User:
        return self._run(self._client.restore_user(user_id))

    def delete_user(self, user_id: int) -> None:
        return self._run(self._client.delete_user(user_id))

    def find_user_by_email(self, email: str) -> User | None:
        return self._run(self._client.find_user_by_email(email))

    # -- teammates (§7.1) -------------------------------------------------------------------------
    def list_teammates(self, manager_id: int) -> Iterator[Teammate]:
        return self._iterate(self._client.list_teammates(manager_id))

    def set_teammates(self, manager_id: int, teammate_ids: Iterable[int]) -> list[Teammate]:
        return self._run(self._client.set_teammates(manager_id, teammate_ids))

    # -- rates (§7.2) -----------------------------------------------------------------------------
    def list_billable_rates(self, user_id: int) -> Iterator[Rate]:
        return self._iterate(self._client.list_billable_rates(user_id))

    def get_billable_rate(self, user_id: int, rate_id: int) -> Rate:
        return self._run(self._client.get_billable_rate(user_id, rate_id))

    def create_billable_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | str | None = None
    ) -> Rate:
        return self._run(self._client.create_billable_rate(user_id, amount, start_date))

    def list_cost_rates(self, user_id: int) -> Iterator[Rate]:
        return self._iterate(self._client.list_cost_rates(user_id))

    def get_cost_rate(self, user_id: int, rate_id: int) -> Rate:
        return self._run(self._client.get_cost_rate(user_id, rate_id))

    def create_cost_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | str | None = None
    ) -> Rate:
        return self._run(self._client.create_cost_rate(user_id, amount, start_date))

    # -- assignments (§7.3, §7.4) -----------------------------------------------------------------
    def project_assignment_pages(
        self, user_id: int | Literal["me"], *, updated_since: dt.datetime | str | None = None,
        per_page: int | None = None, start_url: str | None = None,
    ) -> Iterator[Page[ProjectAssignment]]:
        return self._iterate(self._client.project_assignment_pages(
            user_id, updated_since=updated_since, per_page=per_page, start_url=start_url))

    def list_project_assignments(
        self, user_id: int | Literal["me"], *, updated_since: dt.datetime | str | None = None
    ) -> Iterator[ProjectAssignment]:
        return self._iterate(
            self._client.list_project_assignments(user_id, updated_since=updated_since))

    def user_assignment_pages(
        self, *, user_id: int | None = None, is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None, per_page: int | None = None,
        start_url: str | None = None,
    ) -> Iterator[Page[UserAssignment]]:
        return self._iterate(self._client.user_assignment_pages(
            user_id=user_id, is_active=is_active, updated_since=updated_since, per_page=per_page,
            start_url=start_url))

    def list_user_assignments(
        self, *, user_id: int | None = None, is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> Iterator[UserAssignment]:
        return self._iterate(self._client.list_user_assignments(
            user_id=user_id, is_active=is_active, updated_since=updated_since))

    def list_project_user_assignments(
        self, project_id: int, *, user_id: int | None = None, is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> Iterator[UserAssignment]:
        return self._iterate(self._client.list_project_user_assignments(
            project_id, user_id=user_id, is_active=is_active, updated_since=updated_since))

    def get_project_user_assignment(self, project_id: int, assignment_id: int) -> UserAssignment:
        return self._run(self._client.get_project_user_assignment(project_id, assignment_id))

    def create_project_user_assignment(
        self, project_id: int, assignment: UserAssignmentCreate | Mapping[str, Any]
    ) -> UserAssignment:
        return self._run(self._client.create_project_user_assignment(project_id, assignment))

    def update_project_user_assignment(
        self, project_id: int, assignment_id: int,
        changes: UserAssignmentUpdate | Mapping[str, Any],
    ) -> UserAssignment:
        return self._run(
            self._client.update_project_user_assignment(project_id, assignment_id, changes))

    def delete_project_user_assignment(self, project_id: int, assignment_id: int) -> None:
        return self._run(self._client.delete_project_user_assignment(project_id, assignment_id))

    # -- roles (§7.5) -----------------------------------------------------------------------------
    def role_pages(
        self, *, per_page: int | None = None, start_url: str | None = None
    ) -> Iterator[Page[Role]]:
        return self._iterate(self._client.role_pages(per_page=per_page, start_url=start_url))

    def list_roles(self) -> Iterator[Role]:
        return self._iterate(self._client.list_roles())

    def get_role(self, role_id: int) -> Role:
        return self._run(self._client.get_role(role_id))

    def create_role(self, name: str, user_ids: Iterable[int] = ()) -> Role:
        return self._run(self._client.create_role(name, user_ids))

    def update_role(
        self, role_id: int, name: str | None = None, user_ids: Iterable[int] | None = None
    ) -> Role:
        return self._run(self._client.update_role(role_id, name, user_ids))

    def delete_role(self, role_id: int) -> None:
        return self._run(self._client.delete_role(role_id))

    # -- clients, projects, tasks, time and expenses ---------------------------------------------
    def list_clients(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None
    ) -> Iterator[Client]:
        return self._iterate(self._client.list_clients(is_active=is_active, updated_since=updated_since))

    def list_projects(
        self, *, is_active: bool | None = None, client_id: int | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> Iterator[Project]:
        return self._iterate(self._client.list_projects(
            is_active=is_active, client_id=client_id, updated_since=updated_since))

    def get_project(self, project_id: int) -> Project:
        return self._run(self._client.get_project(project_id))

    def list_tasks(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None
    ) -> Iterator[Task]:
        return self._iterate(self._client.list_tasks(is_active=is_active, updated_since=updated_since))

    def list_task_assignments(
        self, project_id: int, *, is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> Iterator[ProjectTaskAssignment]:
        return self._iterate(self._client.list_task_assignments(
            project_id, is_active=is_active, updated_since=updated_since))

    def list_time_entries(
        self, *, user_id: int | None = None, project_id: int | None = None,
        client_id: int | None = None, task_id: int | None = None, is_running: bool | None = None,
        is_billed: bool | None = None, updated_since: dt.datetime | str | None = None,
        from_: dt.date | str | None = None, to: dt.date | str | None = None,
    ) -> Iterator[TimeEntry]:
        return self._iterate(self._client.list_time_entries(
            user_id=user_id, project_id=project_id, client_id=client_id, task_id=task_id,
            is_running=is_running, is_billed=is_billed, updated_since=updated_since, from_=from_,
            to=to))

    def get_time_entry(self, time_entry_id: int) -> TimeEntry:
        return self._run(self._client.get_time_entry(time_entry_id))

    def list_expenses(
        self, *, user_id: int | None = None, project_id: int | None = None,
        client_id: int | None = None, is_billed: bool | None = None,
        updated_since: dt.datetime | str | None = None, from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
    ) -> Iterator[Expense]:
        return self._iterate(self._client.list_expenses(
            user_id=user_id, project_id=project_id, client_id=client_id, is_billed=is_billed,
            updated_since=updated_since, from_=from_, to=to))

    def team_time_report(self, from_: dt.date | str, to: dt.date | str) -> list[TeamTimeResult]:
        return self._run(self._client.team_time_report(from_, to))

    # -- company (§7.6) and identity (§5.3) -------------------------------------------------------
    def get_company(self) -> Company:
        return self._run(self._client.get_company())

    def update_company(
        self, wants_timestamp_timers: bool | None = None, weekly_capacity: int | None = None
    ) -> Company:
        return self._run(self._client.update_company(wants_timestamp_timers, weekly_capacity))

    def get_identity(self, *, harvest_only: bool = True) -> IdentityAccounts:
        return self._run(self._client.get_identity(harvest_only=harvest_only))

    def list_accounts(self, *, harvest_only: bool = True) -> Iterator[Account]:
        return self._iterate(self._client.list_accounts(harvest_only=harvest_only))


def _share_docstrings() -> None:
    """Give each twin the docstring of the async method it wraps, so both document the same
    ``METHOD /path`` and never drift apart."""
    for name, method in vars(Harvest).items():
        source = getattr(AsyncHarvest, name, None)
        if name.startswith("_") or not inspect.isfunction(method) or source is None:
            continue
        if method.__doc__ is None:
            method.__doc__ = inspect.getdoc(source)


_share_docstrings()
