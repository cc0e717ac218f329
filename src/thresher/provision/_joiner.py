"""A joiner in one step: one invitation, then their roles, manager and projects.

``thresher users create --role R --manager EMAIL --project ID --billable-rate N`` runs this.
Everything that can be checked is checked before the create (the roles, the manager and the
projects exist, the manager is a manager, docs/harvest-api.md §7.1), so a typo costs no
invitation. The create is the one ``POST /v2/users`` (gotcha 1: it emails the person), carrying
the user's fields and default rates; roles (§7.5: read, modify, write the member list), the
manager's teammates (§7.1: the same) and project assignments (§7.4) follow, one at a time.

A step that fails after the create stops the run and says what was and was not done
(``JoinerIncompleteError``); running the same joiner again finds the user (no second
invitation), brings their fields and rates to what was asked, and does only what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from thresher._errors import ThresherError
from thresher.harvest import NotFoundError, User, UserCreate

from ._apply import _adopt
from ._ops import ProvisionError, find_user
from ._writes import WriteThrough

__all__ = ["Joiner", "JoinerIncompleteError", "JoinerResult", "JoinerStep", "onboard"]

Outcome = Literal["done", "already", "failed", "not done"]


@dataclasses.dataclass(frozen=True)
class Joiner:
    """What a new person needs on their first day. ``manager``: the email or id of a manager
    whose teammates they join; ``roles``: business role names (any case); ``projects``: ids."""

    user: UserCreate
    roles: tuple[str, ...] = ()
    manager: str | None = None
    projects: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class JoinerStep:
    """One part of a joiner: ``done`` now, ``already`` so before, ``failed``, or ``not done``
    (a step after a failure, left for the next run)."""

    what: str
    outcome: Outcome
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class JoinerResult:
    """What ``onboard`` did: the user (None only if the create itself failed), whether this run
    created them (and so sent the invitation), and each step in order."""

    user: User | None
    created: bool
    steps: list[JoinerStep] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(step.outcome in ("done", "already") for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": None if self.user is None else self.user.id,
            "email": None if self.user is None else self.user.email,
            "created": self.created,
            "complete": self.complete,
            "steps": [step.as_dict() for step in self.steps],
        }


class JoinerIncompleteError(ProvisionError):
    """The user exists but a later step failed; ``result`` lists what was and was not done.
    Running the same joiner again completes it without a second invitation."""

    def __init__(self, message: str, *, result: JoinerResult, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


@dataclasses.dataclass(frozen=True)
class _Checked:
    roles: list[tuple[int, str]]
    manager: User | None
    projects: list[tuple[int, str]]


async def _role_ids(writes: WriteThrough, names: tuple[str, ...]) -> list[tuple[int, str]]:
    """Each role's id and name as Harvest spells it: from the mirror, else Harvest's listing
    (a role made since the last sync)."""
    known = {r.name.casefold(): (r.harvest_id, r.name) for r in writes.store.list_roles(writes.connection.id)}
    if any(n.strip().casefold() not in known for n in names):
        async for role in writes.client.list_roles():
            known.setdefault(role.name.casefold(), (role.id, role.name))
    missing = [n for n in names if n.strip().casefold() not in known]
    if missing:
        existing = sorted((name for _, name in known.values()), key=str.casefold)
        raise ProvisionError(
            f"no role is named {', '.join(repr(n) for n in missing)}; nothing was created"
            + (f" (roles: {', '.join(existing)})" if existing else ""),
            hint=f"Check the spelling, or create it first: thresher roles create {missing[0]!r}",
        )
    return list(dict.fromkeys(known[n.strip().casefold()] for n in names))


async def _check(writes: WriteThrough, joiner: Joiner) -> _Checked:
    """Everything a later step needs, read before the create: a failure here costs nothing."""
    roles = await _role_ids(writes, joiner.roles)
    manager = None
    if joiner.manager is not None:
        manager = await find_user(writes, joiner.manager)
        if manager.base_role != "manager":
            raise ProvisionError(
                f"{manager.email} is not a manager (access role {manager.base_role}), and Harvest "
                "gives teammates only to managers (docs/harvest-api.md §7.1); nothing was created",
                hint=f"Make them one first: thresher users update {manager.email} --access-roles manager",
            )
        if manager.email.casefold() == joiner.user.email.casefold():
            raise ProvisionError(f"{manager.email} cannot be their own manager")
    projects = []
    for project_id in dict.fromkeys(joiner.projects):
        try:
            project = await writes.client.get_project(project_id)
        except NotFoundError:
            raise ProvisionError(
                f"there is no project {project_id}; nothing was created",
                hint="Check the id in Harvest (the number in the project's URL).",
            ) from None
        projects.append((project.id, project.name))
    return _Checked(roles, manager, projects)


async def _existing(writes: WriteThrough, email: str) -> User | None:
    """The user the mirror knows by this email, read fresh (a re-run), or None."""
    stored = writes.store.find_user_by_email(writes.connection.id, email)
    if stored is None:
        return None
    try:
        user = await writes.client.get_user(stored.harvest_id)
    except NotFoundError:
        return None  # deleted in Harvest since the mirror saw them: a create is right
    await writes._users([user])
    return user


async def onboard(writes: WriteThrough, joiner: Joiner) -> JoinerResult:
    """Create (or, on a re-run, find) the user, then add their roles, manager and projects.

    Raises ``ProvisionError`` before any write when a role, the manager or a project is wrong,
    or the email belongs to an archived user; ``JoinerIncompleteError`` when a step after the
    user exists fails (its ``result`` says what was done). Harvest's own errors from the create
    propagate unchanged (nothing was created)."""
    checked = await _check(writes, joiner)
    email = joiner.user.email
    user = await _existing(writes, email)
    body = joiner.user.model_dump(mode="json", exclude_none=True)
    result = JoinerResult(user=None, created=False)
    if user is None:
        # Harvest refuses an email already taken (gotcha 2): then the user is looked up instead.
        user, result.created = await writes.create_or_find_user(joiner.user)
    if not user.is_active:
        raise ProvisionError(
            f"{user.email} already exists and is archived (user {user.id}); nothing was changed",
            hint=f"Restore them first (this takes a paid seat): thresher users restore {user.email}",
        )
    result.user = user
    if result.created:
        created = f"user {user.id} created; Harvest emailed {email}"
        result.steps.append(JoinerStep("invitation", "done", created))
    else:
        result.steps.append(JoinerStep("invitation", "already", f"user {user.id} exists; none sent"))

    uid = user.id
    pending: list[tuple[str, Callable[[], Awaitable[bool]]]] = []
    if not result.created:
        pending.append(("fields and rates", lambda: _adopt(writes, user, body)))
    pending += [(f"role {name}", _role_step(writes, uid, rid)) for rid, name in checked.roles]
    if checked.manager is not None:
        manager = checked.manager
        pending.append((f"teammate of {manager.email}", _teammate_step(writes, uid, manager.id)))
    if checked.projects:
        pending += _project_steps(writes, uid, checked.projects)

    for n, (what, step) in enumerate(pending):
        try:
            changed = await step()
        except ThresherError as exc:
            result.steps.append(JoinerStep(what, "failed", str(exc)))
            result.steps += [JoinerStep(later, "not done") for later, _ in pending[n + 1:]]
            not_done = len(pending) - n
            raise JoinerIncompleteError(
                f"{email} {'was created' if result.created else 'exists'} (user {uid}), but "
                f"{what} failed: {exc}; {not_done} step(s) left to do",
                result=result,
                hint="Fix the cause and run the same command again: it finds the user (no second "
                "invitation) and does only what is missing.",
            ) from exc
        result.steps.append(JoinerStep(what, "done" if changed else "already"))
    return result


def _role_step(writes: WriteThrough, user_id: int, role_id: int) -> Callable[[], Awaitable[bool]]:
    async def step() -> bool:
        # PATCH replaces the member list (§7.5): start from Harvest's, not the mirror's.
        role = await writes.client.get_role(role_id)
        if user_id in role.user_ids:
            return False
        await writes.update_role(role_id, user_ids=[*role.user_ids, user_id])
        return True

    return step


def _teammate_step(writes: WriteThrough, user_id: int, manager_id: int) -> Callable[[], Awaitable[bool]]:
    async def step() -> bool:
        # PATCH replaces the whole set (§7.1): start from Harvest's list.
        current = [t.id async for t in writes.client.list_teammates(manager_id)]
        if user_id in current:
            return False
        await writes.set_teammates(manager_id, [*current, user_id])
        return True

    return step


def _project_steps(
    writes: WriteThrough, user_id: int, projects: list[tuple[int, str]]
) -> list[tuple[str, Callable[[], Awaitable[bool]]]]:
    active: set[int] | None = None

    async def assigned() -> set[int]:
        nonlocal active
        if active is None:  # one listing serves every project
            active = {
                a.project.id async for a in writes.client.list_user_assignments(user_id=user_id)
                if a.is_active
            }
        return active

    def one(project_id: int) -> Callable[[], Awaitable[bool]]:
        async def step() -> bool:
            if project_id in await assigned():
                return False
            await writes.assign_project(user_id, project_id)
            return True

        return step

    return [(f"project {name} ({pid})", one(pid)) for pid, name in projects]
