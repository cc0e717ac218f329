"""Time entries (``/v2/time_entries``), shaped as ``tests/sandbox/data/harvest-openapi.yaml``
describes Harvest's docs; they are what makes a user or an assignment not removable (§6.4, §7.4).

* Visibility follows ``ApiSection.may_see_work``: administrators everything, managers their own,
  their teammates' and their managed projects' time, members their own. Creating, changing or
  deleting an entry needs the same right over its user and project.
* The list is sorted by ``spent_date``, newest first, in plain pages (the description gives it no
  cursor), with the filters ``user_id``, ``client_id``, ``project_id``, ``task_id``,
  ``is_running``, ``is_billed`` (nothing is ever billed here), ``updated_since``, ``from``, ``to``.
* A create takes ``project_id``, ``task_id`` and ``spent_date`` (required), and either ``hours``
  (a duration, 0 to 24), or ``started_time`` with or without ``ended_time`` (``8:00am`` or
  ``14:00``); with neither, or without ``ended_time``, a timer starts. The user must be actively
  assigned to the project and the task must belong to it. One timer runs per user: starting one
  stops the other, as ``PATCH .../restart`` does; ``PATCH .../stop`` adds the elapsed time.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import weakref
from collections.abc import Sequence
from typing import overload

from starlette.responses import Response

from ._host import SandboxHost
from ._http import Call, Form, not_found, raw_json, unprocessable
from ._pagination import InOrder, envelope, read_page_query
from ._records import Project, TimeEntry, User
from ._section import ApiSection, RouteSpec, is_admin
from ._state import SandboxState
from ._work_render import SharedEntryParts, TimeEntryRenderer, entry_hours, format_clock_time

__all__ = ["TimeEntriesApi", "parse_clock_time"]

_ONE = "/v2/time_entries/{entry_id}"
_KEEP = ("user_id", "client_id", "project_id", "task_id", "is_running", "is_billed", "updated_since",
         "from", "to")
_CLOCK_TIME = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?\s*$", re.IGNORECASE)
NOT_ASSIGNED = "User is not assigned to this project"
TASK_NOT_ASSIGNED = "Task is not assigned to this project"
ALREADY_RUNNING = "Time entry is already running"
NOT_RUNNING = "Time entry is not running"


def parse_clock_time(text: str) -> int | None:
    """Minutes after midnight from ``8:00am``, ``8am``, ``14:00``; None when unreadable."""
    match = _CLOCK_TIME.match(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").lower().replace(".", "")
    if minute > 59 or (suffix and not 1 <= hour <= 12) or hour > 23:
        return None
    if suffix:
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    return hour * 60 + minute


class _Newest(Sequence[TimeEntry]):
    """Every time entry, newest ``spent_date`` first, as a view of the state's sorted keys."""

    def __init__(self, keys: list[tuple[str, int]], index: dict[int, TimeEntry]) -> None:
        self._keys, self._index = keys, index

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, item: int) -> TimeEntry: ...
    @overload
    def __getitem__(self, item: slice) -> list[TimeEntry]: ...

    def __getitem__(self, item: int | slice) -> TimeEntry | list[TimeEntry]:
        n = len(self._keys)
        if isinstance(item, int):
            return self._index[self._keys[n - 1 - item][1]]
        start, stop, _ = item.indices(n)
        return [self._index[key[1]] for key in reversed(self._keys[n - stop : n - start])]


class TimeEntriesApi(ApiSection):
    def __init__(self, sandbox: SandboxHost) -> None:
        super().__init__(sandbox)
        #: Per state, the JSON parts entries on one project and task share (about 500 a page,
        #: 3 to 5 ms to render): kept from page to page until the account changes.
        self._shared: weakref.WeakKeyDictionary[SandboxState, SharedEntryParts] = weakref.WeakKeyDictionary()

    def _listing_renderer(self) -> TimeEntryRenderer:
        """A renderer that shares parts with the previous listing's, unless anything changed
        since: every change empties ``time_entry_json`` (``Sandbox.mark_changed``), and only
        listings fill it again, after this check."""
        state = self.state
        shared = self._shared.get(state)
        if shared is None or not state.time_entry_json:
            shared = self._shared[state] = {}
        return TimeEntryRenderer(state, self.sandbox.clock.now(), shared)

    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/time_entries", "GET", self.list_time_entries),
            ("/v2/time_entries", "POST", self.create_time_entry),
            (_ONE, "GET", self.get_time_entry),
            (_ONE, "PATCH", self.update_time_entry),
            (_ONE, "DELETE", self.delete_time_entry),
            (_ONE + "/restart", "PATCH", self.restart_time_entry),
            (_ONE + "/stop", "PATCH", self.stop_time_entry),
        ]

    def _render(self, entry: TimeEntry, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return raw_json(TimeEntryRenderer(self.state, self.sandbox.clock.now())(entry), status, headers)

    # -- reads ------------------------------------------------------------------------------------
    def list_time_entries(self, call: Call) -> Response:
        """``GET /v2/time_entries``: what the token may see, newest ``spent_date`` first."""
        state, actor = self.state, call.actor
        form = Form(call.params)
        ids = {key: form.integer(key) for key in ("user_id", "client_id", "project_id", "task_id")}
        is_running, is_billed = form.boolean("is_running"), form.boolean("is_billed")
        form.check()
        start, end = self.date_param(call, "from"), self.date_param(call, "to")
        since = self.updated_since(call)
        query = read_page_query(call.params, _KEEP, cursors=False)
        projects = state.projects
        user_id, project_id = ids["user_id"], ids["project_id"]
        task_id, client_id = ids["task_id"], ids["client_id"]
        index = state.time_entry_index
        everything = is_admin(actor) and all(
            v is None for v in (user_id, project_id, task_id, client_id, is_running, start, end, since)
        )
        chosen: list[TimeEntry] | _Newest
        if is_billed is True:  # nothing is invoiced in the sandbox
            chosen = []
        elif everything and is_billed is None:
            chosen = _Newest(state.time_entry_keys, index)  # no scan, no sort
        else:
            keys = state.time_entry_keys
            if user_id is not None:  # a person's time: their own list, not the account's
                keys = sorted((e.spent_date, e.id) for e in state.time_entries.get(user_id, ()))
            chosen = []
            for _, entry_id in reversed(keys):
                entry = index[entry_id]
                if (
                    (user_id is None or entry.user_id == user_id)
                    and (project_id is None or entry.project_id == project_id)
                    and (task_id is None or entry.task_id == task_id)
                    and (client_id is None or projects[entry.project_id].client_id == client_id)
                    and (is_running is None or entry.is_running is is_running)
                    and (start is None or entry.spent_date >= start)
                    and (end is None or entry.spent_date <= end)
                    and (since is None or (entry.updated_at or entry.created_at) >= since)
                    and self.may_see_work(actor, entry.user_id, entry.project_id)
                ):
                    chosen.append(entry)
        render_entry = self._listing_renderer()
        cache = state.time_entry_json

        def render(entry: TimeEntry) -> bytes:
            if entry.is_running:  # its hours grow: never cached
                return render_entry(entry)
            cached = cache.get(entry.id)
            if cached is None:
                cached = cache[entry.id] = render_entry(entry)
            return cached

        body = envelope("time_entries", query, InOrder(chosen), render,
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def _entry(self, call: Call) -> TimeEntry:
        entry = self.state.time_entry_index.get(call.path_id("entry_id"))
        if entry is None:
            raise not_found()
        if not self.may_see_work(call.actor, entry.user_id, entry.project_id):
            raise self.deny()
        return entry

    def get_time_entry(self, call: Call) -> Response:
        """``GET /v2/time_entries/{id}``."""
        return self._render(self._entry(call))

    # -- writes -----------------------------------------------------------------------------------
    def _read_times(self, form: Form) -> tuple[int | None, int | None]:
        minutes = []
        for key in ("started_time", "ended_time"):
            text = form.text(key)
            value = None if not text else parse_clock_time(text)
            if text and value is None:
                form.error(f"{key.replace('_', ' ').capitalize()} is invalid")
            minutes.append(value)
        return minutes[0], minutes[1]

    def _spent_date(self, form: Form) -> str | None:
        text = form.text("spent_date")
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            form.error("Spent date is not a valid date")
            return None

    def _check_placement(self, form: Form, user: User, project: Project, task_id: int) -> None:
        assignment = self.state.assignment_for(project.id, user.id)
        if assignment is None or not assignment.is_active:
            form.error(NOT_ASSIGNED)
        if not any(ta.task_id == task_id and ta.is_active for ta in project.task_assignments):
            form.error(TASK_NOT_ASSIGNED)

    def _now_minutes(self) -> int:
        now = time.gmtime(self.sandbox.clock.now())
        return now.tm_hour * 60 + now.tm_min

    def _stop_running(self, user_id: int, now: int) -> None:
        for other in self.state.time_entries.get(user_id, ()):
            if other.timer_started_at is not None:
                self._stop(other, now)

    def _stop(self, entry: TimeEntry, now: int) -> None:
        entry.hours = entry_hours(entry, now)
        entry.timer_started_at = None
        if entry.started_time is not None:
            entry.ended_time = format_clock_time(self._now_minutes(), self.state.company.clock)
        entry.updated_at = self.sandbox.clock.stamp(entry.updated_at or entry.created_at)

    def create_time_entry(self, call: Call) -> Response:
        """``POST /v2/time_entries``: 201 and the entry, with a duration or start and end times;
        without either a timer starts."""
        state, actor = self.state, call.actor
        form = Form(call.body)
        user_id = form.integer("user_id", minimum=1)
        project_id = form.integer("project_id", minimum=1)
        task_id = form.integer("task_id", minimum=1)
        spent = self._spent_date(form)
        hours = form.number("hours", minimum=0, maximum=24)
        notes = form.text("notes") or ""
        started, ended = self._read_times(form)
        for key, value in (("project_id", project_id), ("task_id", task_id), ("spent_date", spent)):
            if value is None and not form.data.get(key):  # absent or null; a bad value has its message
                form.error(f"{key.removesuffix('_id').replace('_', ' ').capitalize()} can't be blank")
        form.check()
        assert project_id is not None
        assert task_id is not None
        assert spent is not None
        user = state.users.get(actor.id if user_id is None else user_id)
        project = state.projects.get(project_id)
        if user is None or project is None:
            raise unprocessable(*(["User must exist"] if user is None else []),
                                *(["Project must exist"] if project is None else []))
        if not self.may_see_work(actor, user.id, project.id):
            raise self.deny()
        self._check_placement(form, user, project, task_id)
        if started is not None and ended is not None and ended < started:
            form.error("Ended time must be after the started time")
        form.check()
        now = self.sandbox.clock.stamp()
        clock = state.company.clock
        entry = TimeEntry(state.next_id("time_entry"), user.id, project.id, task_id, spent, 0.0, notes,
                          now, now)
        if hours is not None:
            entry.hours = round(hours, 2)
        elif started is not None and ended is not None:
            entry.hours = round((ended - started) / 60, 2)
            entry.started_time = format_clock_time(started, clock)
            entry.ended_time = format_clock_time(ended, clock)
        else:
            self._stop_running(user.id, now)
            entry.timer_started_at = now
            entry.started_time = format_clock_time(self._now_minutes() if started is None else started, clock)
        state.add_time_entry(entry)
        location = f"{call.origin}/v2/time_entries/{entry.id}"
        return self._render(entry, 201, {"Location": location})

    def update_time_entry(self, call: Call) -> Response:
        """``PATCH /v2/time_entries/{id}``: ``project_id``, ``task_id``, ``spent_date``, ``hours``,
        ``started_time``, ``ended_time``, ``notes``; fields left out stay."""
        state, actor = self.state, call.actor
        entry = self._entry(call)
        form = Form(call.body)
        project_id = form.integer("project_id", minimum=1)
        task_id = form.integer("task_id", minimum=1)
        spent = self._spent_date(form)
        hours = form.number("hours", minimum=0, maximum=24)
        notes = form.text("notes")
        started, ended = self._read_times(form)
        form.check()
        project = state.projects.get(entry.project_id if project_id is None else project_id)
        if project is None:
            raise unprocessable("Project must exist")
        if not self.may_see_work(actor, entry.user_id, project.id):
            raise self.deny()
        new_task = entry.task_id if task_id is None else task_id
        if project_id is not None or task_id is not None:
            self._check_placement(form, state.users[entry.user_id], project, new_task)
        clock = state.company.clock
        first = started if started is not None else (
            None if entry.started_time is None else parse_clock_time(entry.started_time))
        last = ended if ended is not None else (
            None if entry.ended_time is None else parse_clock_time(entry.ended_time))
        changed_times = started is not None or ended is not None
        if changed_times and first is not None and last is not None and last < first:
            form.error("Ended time must be after the started time")
        form.check()
        entry.project_id, entry.task_id = project.id, new_task
        if spent is not None:
            state.set_spent_date(entry, spent)
        if notes is not None:
            entry.notes = notes
        if hours is not None:
            entry.hours = round(hours, 2)
        elif changed_times and first is not None and last is not None and not entry.is_running:
            entry.hours = round((last - first) / 60, 2)
        if started is not None:
            entry.started_time = format_clock_time(started, clock)
        if ended is not None and not entry.is_running:
            entry.ended_time = format_clock_time(ended, clock)
        entry.updated_at = self.sandbox.clock.stamp(entry.updated_at or entry.created_at)
        return self._render(entry)

    def delete_time_entry(self, call: Call) -> Response:
        """``DELETE /v2/time_entries/{id}``: 200 with the deleted entry (§2, 2019 traffic)."""
        entry = self._entry(call)
        answer = self._render(entry)
        self.state.remove_time_entry(entry)
        return answer

    def restart_time_entry(self, call: Call) -> Response:
        """``PATCH /v2/time_entries/{id}/restart``: only a stopped entry (else 422); the user's
        other running timer stops."""
        entry = self._entry(call)
        if entry.is_running:
            raise unprocessable(ALREADY_RUNNING)
        now = self.sandbox.clock.stamp(entry.updated_at or entry.created_at)
        self._stop_running(entry.user_id, now)
        entry.timer_started_at = now
        entry.ended_time = None
        entry.updated_at = now
        return self._render(entry)

    def stop_time_entry(self, call: Call) -> Response:
        """``PATCH /v2/time_entries/{id}/stop``: only a running entry (else 422)."""
        entry = self._entry(call)
        if not entry.is_running:
            raise unprocessable(NOT_RUNNING)
        self._stop(entry, self.sandbox.clock.stamp())
        return self._render(entry)
