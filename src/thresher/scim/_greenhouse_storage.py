"""The SCIM bridge over a Greenhouse Recruiting connection (docs/greenhouse.md §6).

Users only. Lookups come from the roster mirror exactly as for Harvest (``HarvestStorage``'s
reads, filters and pages: the mirror's ``users`` table is shared); writes go to Greenhouse
through ``AsyncGreenhouse`` and are recorded in the mirror before the answer leaves
(``thresher.store.apply_greenhouse_users``, source ``write``):

- create: ``POST /v3/users`` (no invitation email); ``active: false`` then deactivates;
- replace/patch: names and ``employeeNumber`` (Greenhouse's ``employee_id``) by ``PATCH``,
  ``active`` by ``activate``/``deactivate`` (idempotent, 204);
- delete: deactivate (Greenhouse deletes nobody) and answer 404 for the user from then on.

Greenhouse keeps one primary email that its user writes cannot change: an update whose primary
address differs adds it to the user's emails (``POST /v3/user_emails``, no verification mail) and
the bridge shows the identity provider's list; the mirror keeps Greenhouse's primary. The
enterprise ``employeeNumber`` sets Greenhouse's ``employee_id``; removing it never clears it. Groups are not
offered: Greenhouse's user roles are per job permission, with no membership list to map a SCIM
group onto, so the bridge's ``/ResourceTypes`` has Users alone.

The resource schema is SCIM's core User with the enterprise extension; no Harvest extension.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, cast

from pydantic import ValidationError
from scim2_models import (
    URI,
    URN,
    ComplexAttribute,
    GroupMembership,
    InvalidValueException,
    Meta,
    Mutability,
    NotFoundException,
    Reference,
    Required,
    Resource,
    ResourceType,
    SchemaExtension,
    ScimProvider,
    UniquenessException,
)

from thresher.greenhouse import (
    AsyncGreenhouse,
    GreenhouseError,
    MissingScopeError,
    NotFoundError,
    NotSiteAdminError,
    RetryableError,
    UnprocessableError,
    UserCreate,
    UserUpdate,
)
from thresher.greenhouse import User as GreenhouseUser
from thresher.harvest import normalize_email
from thresher.store import Store, StoredConnection, StoredUser, apply_greenhouse_users, greenhouse_fields

from ._errors import UnavailableError, UpstreamError, validation_detail
from ._local import UserExtras
from ._mapping import _check_lengths, _shown_emails, harvest_email, is_address, user_extras
from ._models import (
    ENTERPRISE_USER_SCHEMA,
    TOLERANT_POLICY,
    EnterpriseUser,
    Name,
    UserEmail,
    service_provider_config,
)
from ._service import emails_filled
from ._storage import HarvestStorage

__all__ = ["GreenhouseScimUser", "GreenhouseStorage", "greenhouse_provider"]


class GreenhouseScimUser(Resource[Any]):
    """A Greenhouse Recruiting user."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    external_id: Annotated[str | None, Mutability.read_write] = None
    """The identity provider's identifier for the user, kept by thresher."""

    user_name: Annotated[str | None, Required.true] = None
    """The identity provider's name for the user, kept by thresher (unique, any case)."""

    name: Annotated[Name | None, Required.true] = None
    """Greenhouse's ``first_name`` and ``last_name``."""

    Name: ClassVar[type[ComplexAttribute]] = Name

    display_name: Annotated[str | None, Mutability.read_only] = None
    """"first last"."""

    active: Annotated[bool | None, Required.true] = None
    """Not Greenhouse's ``deactivated``: false deactivates the user, true activates them."""

    emails: Annotated[list[UserEmail] | None, Required.true] = None
    """The primary one is Greenhouse's ``primary_email`` (set at creation)."""

    Emails: ClassVar[type[ComplexAttribute]] = UserEmail

    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None
    """Always empty: Groups are not offered for Greenhouse."""


def greenhouse_provider() -> ScimProvider:
    """The bridge's description for a Greenhouse connection: User (+ enterprise), no Group."""
    user_type = ResourceType(
        id="User",
        name="User",
        description="A Greenhouse Recruiting user",
        endpoint=Reference[URI]("/Users"),
        schema_=Reference[URI](str(GreenhouseScimUser.__schema__)),
        schema_extensions=[
            SchemaExtension(schema_=Reference[URI](ENTERPRISE_USER_SCHEMA), required=False),
        ],
    )
    return ScimProvider(
        [GreenhouseScimUser, EnterpriseUser],
        resource_types=[user_type],
        config=service_provider_config(),
        policy=TOLERANT_POLICY,
    )


def _resource(
    model: type[Resource[Any]],
    user: StoredUser,
    extras: UserExtras,
    employee_id: str | None,
    *,
    derived: bool,
) -> Resource[Any]:
    emails = _shown_emails(user, extras, derived=derived)
    data: dict[str, Any] = {
        "schemas": [str(model.__schema__), ENTERPRISE_USER_SCHEMA],
        "id": str(user.harvest_id),
        "externalId": extras.external_id,
        "userName": extras.user_name or user.email,
        "name": {"givenName": user.first_name, "familyName": user.last_name},
        "displayName": user.full_name,
        "active": user.is_active,
        "emails": [e.model_dump(exclude_none=True) for e in emails] or None,
        ENTERPRISE_USER_SCHEMA: {
            # Greenhouse's employee_id, until the bridge has written the user: then what the
            # identity provider manages (removing it there never clears Greenhouse's HR value).
            "employeeNumber": employee_id if extras.user_name is None else extras.employee_number,
            "department": extras.department,
        },
    }
    resource = model.model_validate(data)
    resource.meta = Meta(resource_type="User", created=user.created_at, last_modified=user.updated_at)
    return resource


def _scim_error(exc: GreenhouseError, what: str) -> Exception:
    """A Greenhouse error as the SCIM error an identity provider should see (never a secret)."""
    if isinstance(exc, UnprocessableError):
        text = str(exc).lower()
        if "taken" in text or "already" in text:
            return UniquenessException(detail=f"Greenhouse refused {what}: {exc}")
        return InvalidValueException(detail=f"Greenhouse refused {what}: {exc}")
    if isinstance(exc, MissingScopeError | NotSiteAdminError):
        return UpstreamError(detail=f"thresher's Greenhouse credential cannot do this: {exc}")
    if isinstance(exc, RetryableError):
        return UnavailableError(detail=f"Greenhouse is unavailable ({type(exc).__name__}); retry later")
    return UpstreamError(detail=f"Greenhouse refused {what}: {exc}")


class GreenhouseStorage(HarvestStorage):
    """Users of one Greenhouse connection: ``HarvestStorage``'s reads, Greenhouse's writes.

    Constructed through ``MirrorStorage.__init__`` (``_base``), which holds everything those reads
    use; ``HarvestStorage.__init__`` adds Harvest's write-through alone, which is never built
    here (tests/scim/test_provider_base.py keeps the two in step)."""

    def __init__(
        self,
        client: AsyncGreenhouse,
        store: Store,
        connection: StoredConnection,
        user_model: type[Resource[Any]] = GreenhouseScimUser,
        group_model: type[Resource[Any]] = GreenhouseScimUser,
    ) -> None:
        # super(HarvestStorage, ...): MirrorStorage's constructor, past Harvest's write-through.
        super(HarvestStorage, self).__init__(store, connection, user_model, group_model)
        self.client = client

    def complete_pending(self) -> int:
        return 0  # every Greenhouse write is recorded before its answer: nothing is left pending

    async def _drain(self) -> None:
        return None

    def _users_as_resources(
        self,
        users: Sequence[StoredUser],
        *,
        derived: bool = True,
        skip_hidden: bool = False,
        extras: Mapping[int, UserExtras] | None = None,
    ) -> list[Resource[Any]]:
        ids = [u.harvest_id for u in users]
        if extras is None:
            extras = self.local.user_extras(ids if len(users) < 500 else None)
        if skip_hidden:
            users = [u for u in users if extras.get(u.harvest_id, UserExtras()).hidden_at is None]
        fields = greenhouse_fields(self.store, self.connection_id, ids if len(ids) < 500 else None)
        return [
            _resource(
                self.user_model,
                u,
                extras.get(u.harvest_id, UserExtras()),
                fields.get(u.harvest_id, {}).get("employee_id"),
                derived=derived,
            )
            for u in users
        ]

    def _record(self, user: GreenhouseUser) -> None:
        with self.store.transaction() as tx:
            now = dt.datetime.now(dt.UTC)
            apply_greenhouse_users(tx, self.connection_id, [user], observed_at=now, source="write")

    # -- users -----------------------------------------------------------------------------

    def _fields(self, resource: Resource[Any], current: StoredUser | None) -> dict[str, Any]:
        if not getattr(resource, "user_name", None):
            raise InvalidValueException(detail="userName is required")
        _check_lengths(resource)
        email = harvest_email(resource, current.email if current else None)
        if (current is None or email != current.email) and not is_address(email):
            raise InvalidValueException(detail=f"emails: {email[:80]!r} is not an email address")
        name = getattr(resource, "name", None)
        return {
            "email": email,
            "first_name": getattr(name, "given_name", None),
            "last_name": getattr(name, "family_name", None),
            "employee_id": user_extras(resource).employee_number,
            "active": getattr(resource, "active", None),
        }

    def _taken(self, user_name: str, email: str, user_id: int | None) -> StoredUser | None:
        """Refuse a userName or email another visible user has; return a user deleted through
        SCIM that holds ``email`` (Greenhouse cannot hold an address twice: it is reused)."""
        for uid, (_, their) in self.local.users_with_extras(user_name=user_name).items():
            if uid != user_id and their.hidden_at is None:
                raise UniquenessException(detail=f"userName {user_name!r} belongs to user {uid} already")
        reuse = None
        for uid, (user, their) in self.local.users_with_extras(email=email).items():
            if uid == user_id:
                continue
            if their.hidden_at is not None and user_id is None:
                reuse = user
                continue
            raise UniquenessException(detail=f"email {email!r} belongs to user {uid} already")
        return reuse

    async def _create_user(self, resource: Resource[Any]) -> Resource[Any]:
        fields = self._fields(resource, None)
        extras = user_extras(resource, emails_sent=not emails_filled.get())
        reuse = self._taken(cast(str, getattr(resource, "user_name", None)), fields["email"], None)
        if reuse is not None:
            if fields["active"] is None:
                fields["active"] = True
            return await self._write(reuse, fields, extras)
        try:
            body = UserCreate.model_validate(
                {
                    "first_name": fields["first_name"],
                    "last_name": fields["last_name"],
                    "email": fields["email"],
                    "employee_id": fields["employee_id"],
                }
            )
        except ValidationError as exc:
            raise InvalidValueException(detail=validation_detail(exc)) from None
        try:
            user = await self.client.create_user(body)
            if fields["active"] is False:
                await self.client.deactivate_user(user.id)
                user = await self.client.get_user(user.id)
        except GreenhouseError as exc:
            raise _scim_error(exc, f"user {fields['email']!r}") from None
        self._record(user)
        self.local.save_user(user.id, extras)
        return self._user(user.id)

    async def _update_user(self, user_id: int, resource: Resource[Any]) -> Resource[Any]:
        current = self._visible_users([user_id]).get(user_id)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        fields = self._fields(resource, current)
        self._taken(cast(str, getattr(resource, "user_name", None)), fields["email"], user_id)
        extras = user_extras(resource, emails_sent=not emails_filled.get())
        if normalize_email(fields["email"]) != normalize_email(current.email):
            await self._add_email(user_id, fields["email"])
        return await self._write(current, fields, extras)

    async def _add_email(self, user_id: int, email: str) -> None:
        """Greenhouse's user writes cannot change the primary email: the new address is added to
        the user's emails (no verification mail), the IdP's list is what the bridge shows."""
        try:
            user = await self.client.get_user(user_id)
            if normalize_email(email) not in {normalize_email(e) for e in user.emails}:
                await self.client.add_user_email(user_id, email)
        except GreenhouseError as exc:
            raise _scim_error(exc, f"email {email!r}") from None

    async def _write(self, current: StoredUser, fields: dict[str, Any], extras: UserExtras) -> Resource[Any]:
        uid = current.harvest_id
        known = greenhouse_fields(self.store, self.connection_id, [uid]).get(uid, {})
        changes = {
            k: fields[k]
            for k in ("first_name", "last_name")
            if fields[k] is not None and fields[k] != getattr(current, k)
        }
        if fields["employee_id"] is not None and fields["employee_id"] != known.get("employee_id"):
            changes["employee_id"] = fields["employee_id"]
        active = fields["active"]
        try:
            user: GreenhouseUser | None = None
            if changes:
                user = await self.client.update_user(uid, UserUpdate.model_validate(changes))
            if active is not None and active != current.is_active:
                await (self.client.activate_user(uid) if active else self.client.deactivate_user(uid))
                user = None
            if user is None and (changes or (active is not None and active != current.is_active)):
                user = await self.client.get_user(uid)
        except ValidationError as exc:
            raise InvalidValueException(detail=validation_detail(exc)) from None
        except NotFoundError:
            raise NotFoundException(detail=f"User {uid} not found in Greenhouse") from None
        except GreenhouseError as exc:
            raise _scim_error(exc, f"user {uid}") from None
        if user is not None:
            self._record(user)
        self.local.save_user(uid, extras)
        return self._user(uid)

    async def _delete_user(self, user_id: int) -> None:
        current = self._visible_users([user_id]).get(user_id)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        try:
            if current.is_active:
                await self.client.deactivate_user(user_id)
                self._record(await self.client.get_user(user_id))
        except GreenhouseError as exc:
            raise _scim_error(exc, f"user {user_id}") from None
        extras = self.local.extras_of(user_id)
        self.local.save_user(user_id, dataclasses.replace(extras, hidden_at=dt.datetime.now(dt.UTC)))

    # -- groups: not offered ---------------------------------------------------------------

    async def _create_group(self, resource: Resource[Any]) -> Resource[Any]:
        raise InvalidValueException(detail="Groups do not exist for Greenhouse connections")

    async def _update_group(self, role_id: int, resource: Resource[Any]) -> Resource[Any]:
        raise InvalidValueException(detail="Groups do not exist for Greenhouse connections")

    async def _delete_group(self, role_id: int) -> None:
        raise InvalidValueException(detail="Groups do not exist for Greenhouse connections")
