"""SCIM user writes: Harvest first, then thresher's record, consistent after a partial failure.

A write that reaches Harvest is recorded as *pending* in the store before the Harvest request
(``scim_pending_users``, r0004), and the pending entry is deleted in the transaction that saves
the user's record (userName, externalId, emails...). So when Harvest accepts a write and the
store then fails (a full disk, a lost database), nothing is lost:

* saving the record is retried a few times at once;
* a retried ``POST`` for the same userName and email finds its pending entry, finds the user
  (in the mirror, else in Harvest by email, through ``WriteThrough.create_or_find_user``), links
  it with the externalId it was sent, and answers 201: never 409 for the identity provider's own
  earlier request;
* otherwise the bridge completes the entry itself at a later request (:meth:`complete_pending`),
  once the mirror holds the user (the write-through records it, or the next sync does).

When the pending entry cannot even be written, nothing is sent to Harvest: the answer is 503.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from pydantic import ValidationError
from scim2_models import InvalidValueException, Resource, UniquenessException

from thresher.harvest import HarvestError, UserCreate, normalize_email
from thresher.provision import WriteThrough, edit_user
from thresher.store import StoredUser, StoreError, user_name_key

from ._errors import UnavailableError, scim_error, validation_detail
from ._guards import OwnUserGuard
from ._local import LocalRecords, PendingUser, UserExtras
from ._mapping import harvest_changes, user_extras, user_fields
from ._offload import StoreWork
from ._service import emails_filled

__all__ = ["UserWrites"]

log = logging.getLogger("thresher.scim")

#: Delays before each attempt to save a record after Harvest accepted the write.
SAVE_DELAYS = (0.0, 0.05, 0.25)
#: A pending entry this old whose user never appeared is dropped (Harvest never created it).
PENDING_EXPIRY = dt.timedelta(days=1)


class UserWrites:
    """Creates and updates of one connection's users. ``show``: the user as the bridge serves
    it, by Harvest id (blocking). ``work``: where store steps run (worker threads, ``_offload``).
    ``pending_grace``: seconds before another request's pending entry may be completed here (its
    own request may still be waiting on Harvest)."""

    def __init__(
        self,
        writer: WriteThrough,
        local: LocalRecords,
        show: Callable[[int], Resource[Any]],
        *,
        guard: OwnUserGuard,
        work: StoreWork,
        pending_grace: float = 120.0,
    ) -> None:
        self.writer = writer
        self.guard = guard
        self.local = local
        self.show = show
        self.work = work
        self.pending_grace = pending_grace
        # complete_pending runs in worker threads and in the sync's thread: one at a time.
        self._completing = threading.Lock()
        # Pending entries of this process's requests that failed to save: complete at once.
        self._stranded: set[int] = set()
        self._drain_due = True  # entries of an earlier run may be waiting
        self._next_drain = 0.0

    # -- creation --------------------------------------------------------------------------

    async def create(self, resource: Resource[Any]) -> Resource[Any]:
        fields = user_fields(resource)
        email = cast(str, fields["email"])
        user_name = cast(str, getattr(resource, "user_name", None))
        extras = user_extras(resource, emails_sent=not emails_filled.get())
        pending, found = await self.work.read(self._known, user_name, email)
        existing: StoredUser | None = None
        hidden = None
        for user, their in found.values():
            same_email = normalize_email(user.email) == normalize_email(email)
            if their.hidden_at is not None:
                if same_email:  # deleted through SCIM earlier: Harvest cannot hold the address twice
                    existing, hidden = user, their.hidden_at
                continue
            ours = their.user_name is None or (
                pending is not None
                and pending.completed_at is not None
                and pending.harvest_id == user.harvest_id
            )
            if pending is not None and same_email and ours:
                existing = user  # the user this identity provider's earlier request created
                continue
            state = "archived " if not user.is_active else ""
            what = f"userName {user_name!r}" if not same_email else f"email {email!r}"
            raise UniquenessException(detail=f"{what} belongs to {state}user {user.harvest_id} already")
        if existing is not None:
            if hidden is not None and fields.get("is_active") is None:
                fields["is_active"] = True
            await self._apply(existing, fields)
            return await self._record(existing.harvest_id, extras, pending.id if pending else None)
        try:
            create = UserCreate.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            raise InvalidValueException(detail=validation_detail(exc)) from None
        if pending is not None:
            pending_id = pending.id
        else:
            pending_id = await self._add_pending(None, email, extras)
        try:
            # The wait for Harvest's rate budget happens in here: an await, with the pending
            # entry committed and no database connection held.
            if pending is not None:
                created, _ = await self.writer.create_or_find_user(create)
            else:
                created = await self.writer.create_user(create)
        except HarvestError as exc:
            await self._forget(pending_id)
            raise scim_error(exc, f"user {email!r}") from None
        except StoreError:
            raise self._stranded_error(pending_id, f"a user for {email!r}") from None
        return await self._record(created.id, extras, pending_id)

    def _known(
        self, user_name: str, email: str
    ) -> tuple[PendingUser | None, dict[int, tuple[StoredUser, UserExtras]]]:
        """A creation's pending entry, and the users that hold its userName or email."""
        found = self.local.users_with_extras(user_name=user_name)
        found.update(self.local.users_with_extras(email=email))
        return self._own_pending(user_name, email), found

    def _own_pending(self, user_name: str, email: str) -> PendingUser | None:
        """The pending creation an earlier request of the same userName and email left."""
        key = user_name_key(user_name)
        for entry in self.local.pending(user_name=user_name):
            same = entry.extras.user_name is not None and user_name_key(entry.extras.user_name) == key
            creation = entry.harvest_id is None or entry.completed_at is not None
            if creation and same and normalize_email(entry.email) == normalize_email(email):
                return entry
        return None

    # -- replacement (PUT and PATCH) -------------------------------------------------------

    async def update(self, current: StoredUser, resource: Resource[Any]) -> Resource[Any]:
        user_id = current.harvest_id
        fields = user_fields(resource, current_email=current.email)
        email = cast(str, fields["email"])
        user_name = cast(str, getattr(resource, "user_name", None))
        await self.work.read(self._check_unique, current, user_name, email)
        extras = user_extras(resource, emails_sent=not emails_filled.get())
        active = fields.get("is_active")
        changes = harvest_changes(current, {k: v for k, v in fields.items() if k != "is_active"})
        pending_id = None
        if changes or (active is not None and active != current.is_active):
            # Refused before anything is recorded or sent: the token's owner must stay (``_guards``).
            await self.guard.check_change(current, active=active, changes=changes)
            pending_id = await self._add_pending(user_id, email, extras)
            await self._apply(current, fields, pending_id=pending_id)
        return await self._record(user_id, extras, pending_id)

    def _check_unique(self, current: StoredUser, user_name: str, email: str) -> None:
        user_id = current.harvest_id
        for uid, (_, their) in self.local.users_with_extras(user_name=user_name).items():
            if uid != user_id and their.hidden_at is None:
                raise UniquenessException(detail=f"userName {user_name!r} belongs to user {uid} already")
        if normalize_email(email) != normalize_email(current.email):
            for uid in self.local.users_with_extras(email=email):
                if uid != user_id:
                    raise UniquenessException(detail=f"email {email!r} belongs to user {uid} already")

    # -- steps -----------------------------------------------------------------------------

    async def _apply(
        self, current: StoredUser, fields: dict[str, Any], *, pending_id: int | None = None
    ) -> None:
        """Send Harvest the differences; ``edit_user`` restores first or archives last when an
        archived user's names or email change."""
        fields = dict(fields)
        active = fields.pop("is_active", None)
        changes = harvest_changes(current, fields)
        try:
            await edit_user(self.writer, current, changes, active=active)
        except HarvestError as exc:
            await self._forget(pending_id)
            raise scim_error(exc, f"user {current.harvest_id}") from None
        except ValidationError as exc:
            await self._forget(pending_id)
            raise InvalidValueException(detail=validation_detail(exc)) from None
        except StoreError:
            raise self._stranded_error(pending_id, f"user {current.harvest_id}") from None

    async def _add_pending(self, harvest_id: int | None, email: str, extras: UserExtras) -> int:
        try:
            return await self.work.write(self.local.add_pending, harvest_id, email, extras)
        except StoreError as exc:
            log.warning("SCIM write refused before reaching Harvest: %s", exc)
            raise UnavailableError(
                detail="thresher's store cannot record the write; nothing was sent to Harvest, retry later"
            ) from None

    async def _forget(self, pending_id: int | None) -> None:
        """Harvest refused the write: its pending entry goes (or expires, if the store fails)."""
        if pending_id is None:
            return
        try:
            await self.work.write(self.local.forget_pending, pending_id)
        except StoreError as exc:
            log.warning("could not forget pending SCIM write %s: %s", pending_id, exc)

    def _stranded_error(self, pending_id: int | None, what: str) -> UnavailableError:
        if pending_id is not None:
            self._stranded.add(pending_id)
            self._drain_due, self._next_drain = True, 0.0
        return UnavailableError(
            detail=f"Harvest accepted the write to {what}, but thresher could not record it yet; "
            "retry the request (it will not create the user twice)"
        )

    async def _record(self, user_id: int, extras: UserExtras, pending_id: int | None) -> Resource[Any]:
        """Save the user's record (retried), then answer with the user as served."""
        for delay in SAVE_DELAYS:
            await asyncio.sleep(delay)
            try:
                await self.work.write(
                    functools.partial(self.local.save_user, user_id, extras, pending_id=pending_id)
                )
            except StoreError as exc:
                log.warning("saving the SCIM record of user %s failed: %s", user_id, exc)
                continue
            self._stranded.discard(pending_id or 0)
            try:
                return await self.work.read(self.show, user_id)
            except StoreError:
                break
        raise self._stranded_error(pending_id, f"user {user_id}")

    # -- completing pending writes ---------------------------------------------------------

    def drain_due(self) -> bool:
        """Whether pending writes may be waiting to be completed now (cheap: no database)."""
        return self._drain_due and time.monotonic() >= self._next_drain

    def complete_pending(self) -> int:
        """Save the records of pending writes whose user the mirror now holds (with the email
        the write gave it); drop those whose user never appeared within ``PENDING_EXPIRY``.
        Returns how many were completed. Store errors are logged: the next request retries.
        Blocking (run it in a worker thread); a call while another runs returns 0 at once."""
        if not self._completing.acquire(blocking=False):
            return 0
        try:
            return self._complete_pending()
        finally:
            self._completing.release()

    def _complete_pending(self) -> int:
        now = dt.datetime.now(dt.UTC)
        completed = 0
        try:
            entries = self.local.pending()
            remaining = 0
            for entry in entries:
                if entry.completed_at is not None:
                    if now - entry.completed_at > PENDING_EXPIRY:
                        self.local.forget_pending(entry.id)
                    continue
                young = (now - entry.created_at).total_seconds() < self.pending_grace
                if young and entry.id not in self._stranded:
                    remaining += 1
                    continue
                user = self._pending_user(entry)
                if isinstance(user, str):  # superseded
                    self.local.forget_pending(entry.id)
                elif user is not None:
                    extras = dataclasses.replace(entry.extras, hidden_at=user[1].hidden_at)
                    # A creation stays known a while: its request's retry gets the user, not 409.
                    creation = entry.harvest_id is None
                    self.local.save_user(
                        user[0].harvest_id, extras, pending_id=entry.id, keep_pending=creation
                    )
                    completed += 1
                elif now - entry.created_at > PENDING_EXPIRY:
                    log.warning("dropping pending SCIM write %s: its user never appeared", entry.id)
                    self.local.forget_pending(entry.id)
                else:
                    remaining += 1
                    continue
                self._stranded.discard(entry.id)
        except StoreError as exc:
            log.warning("could not complete pending SCIM writes: %s", exc)
            remaining = 1
        self._drain_due = remaining > 0
        self._next_drain = time.monotonic() + 5.0
        return completed

    def _pending_user(self, entry: PendingUser) -> tuple[StoredUser, UserExtras] | str | None:
        """The user the entry's write reached, "superseded" when a later write recorded it
        already, or None when the mirror does not hold it (yet)."""
        if entry.harvest_id is not None:
            found = self.local.users_with_extras(harvest_ids=[entry.harvest_id])
        else:
            found = self.local.users_with_extras(email=entry.email)
        for pair in found.values():
            if normalize_email(pair[0].email) == normalize_email(entry.email):
                if entry.harvest_id is None and pair[1].user_name is not None:
                    return "superseded"  # linked since (the retried request did it)
                return pair
        return None
