"""The SCIM resources the bridge serves: only the attributes it can keep, each saying where it lives.

RFC 7643 §4 defines many more User attributes (nickName, addresses, x509Certificates...). The bridge
declares only those it can store and read back unchanged: Harvest's own fields, and the few the
identity provider sends that Harvest has no field for, which thresher keeps (descriptions in
``/Schemas`` say which). Undeclared attributes are ignored under the tolerant policy
(docs/scim-idps.md §6.3), as Okta's ``password`` and ``locale`` and Entra's ``manager`` are.

``required`` says what a resource always has: ``userName``; ``emails`` (Harvest needs an address;
a request without emails whose userName is an address gets that address, docs/scim-idps.md §8);
and the values Harvest always holds (names, time zone, ``active``, access roles, capacity,
flags), which can be replaced but never removed, and which a creation may leave out (Harvest's
defaults, see ``_service``). The Harvest extension itself is optional in ``/ResourceTypes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import EmailStr, Field
from scim2_models import (
    URI,
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Email,
    ETag,
    Extension,
    External,
    Filter,
    GroupMembership,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    SchemaExtension,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

if TYPE_CHECKING:
    from scim2_models import User

from thresher.harvest import HARVEST_TIMEZONES, harvest_to_iana, iana_to_harvest

__all__ = [
    "ACCOUNT_TIMEZONE",
    "ENTERPRISE_USER_SCHEMA",
    "HARVEST_DEFAULTS",
    "HARVEST_USER_SCHEMA",
    "MAX_RESULTS",
    "TOLERANT_POLICY",
    "EnterpriseUser",
    "HarvestUser",
    "ScimGroup",
    "ScimUser",
    "build_provider",
]

HARVEST_USER_SCHEMA = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: Page size cap (RFC 7644 §3.4.2.4): Okta pages by 100, Entra by 100.
MAX_RESULTS = 1000

#: docs/scim-idps.md §6.3: what Entra, Okta and OneLogin really send must be accepted.
TOLERANT_POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

#: Put in place of a timezone a creation leaves out: Harvest then uses the account's zone.
ACCOUNT_TIMEZONE = "thresher:account-timezone"
#: Harvest's defaults for a new user (docs/harvest-api.md §6.4), for creations that leave them out.
HARVEST_DEFAULTS: dict[str, Any] = {
    "accessRoles": ["member"],
    "weeklyCapacityHours": 35.0,
    "contractor": False,
    "allFutureProjects": False,
}


def _round_trip_zones() -> list[str]:
    # IANA ids that come back unchanged from Harvest: a fair sample of what a directory sends.
    zones = {harvest_to_iana(name) for name in HARVEST_TIMEZONES}
    return sorted(z for z in zones if harvest_to_iana(iana_to_harvest(z)) == z)


class Name(ComplexAttribute):
    """A user's name: Harvest's ``first_name`` and ``last_name``."""

    family_name: Annotated[str | None, Required.true] = None
    """Harvest's ``last_name``."""

    given_name: Annotated[str | None, Required.true] = None
    """Harvest's ``first_name``."""


class UserEmail(Email):
    """An email address of the user (RFC 7643 §4.1.2); an entry without an address means
    nothing to Harvest."""

    value: Annotated[EmailStr | None, Required.true] = None
    """The address."""


class ScimUser(Resource[Any]):
    """A Harvest user."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    external_id: Annotated[str | None, Mutability.read_write, CaseExact.true] = None
    """The identity provider's identifier for the user. Stored only in thresher: Harvest has no
    field for it."""

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    """The identity provider's name for the user (an Okta login, an Entra userPrincipalName, a
    JumpCloud or OneLogin username): any text, unique, compared without regard to case, stored
    by thresher. Harvest's email comes from ``emails``, or is the userName when no emails are
    sent and it is an address."""

    name: Annotated[Name | None, Required.true] = None
    """Harvest's ``first_name`` and ``last_name``."""

    Name: ClassVar[type[ComplexAttribute]] = Name

    display_name: Annotated[str | None, Mutability.read_only] = None
    """"first last", derived from Harvest's names."""

    timezone: Annotated[str | None, Required.true] = Field(None, examples=_round_trip_zones())
    """The IANA zone of Harvest's ``timezone`` (Harvest stores Rails zone names). Harvest's
    account time zone when a creation leaves it out."""

    active: Annotated[bool | None, Required.true] = None
    """Harvest's ``is_active``: false archives the user in Harvest (their time is kept). True
    when a creation leaves it out."""

    emails: Annotated[list[UserEmail] | None, Required.true] = None
    """The user's addresses. Harvest's ``email`` is the primary one (else the work one, else the
    only one); the list is kept in thresher. Without any, the Harvest email as the primary work
    address."""

    Emails: ClassVar[type[ComplexAttribute]] = UserEmail

    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None
    """The Harvest roles of the user."""


class EnterpriseUser(Extension):
    """RFC 7643 §4.3, the attributes the bridge keeps."""

    __schema__ = URN(ENTERPRISE_USER_SCHEMA)

    employee_number: str | None = None
    """Stored only in thresher: Harvest has no field for it."""

    department: str | None = None
    """Stored only in thresher: Harvest has no field for it."""


class HarvestUser(Extension):
    """Harvest's own user fields (docs/harvest-api.md §6.2)."""

    __schema__ = URN(HARVEST_USER_SCHEMA)

    access_roles: Annotated[list[str] | None, Required.true] = Field(
        None, examples=["member", "manager", "administrator"]
    )
    """Harvest's ``access_roles``: one base role (member, manager, administrator), then manager
    add-ons. When several base roles are sent, the last one wins."""

    weekly_capacity_hours: Annotated[float | None, Required.true] = None
    """Harvest's ``weekly_capacity``, in hours (Harvest counts seconds)."""

    contractor: Annotated[bool | None, Required.true] = None
    """Harvest's ``is_contractor``."""

    all_future_projects: Annotated[bool | None, Required.true] = None
    """Harvest's ``has_access_to_all_future_projects``."""

    default_billable_rate: Annotated[float | None, Mutability.read_only] = None
    """Harvest's ``default_hourly_rate`` (set in Harvest, through its rates endpoints)."""

    cost_rate: Annotated[float | None, Mutability.read_only] = None
    """Harvest's ``cost_rate`` (set in Harvest, through its rates endpoints)."""


class GroupMember(ComplexAttribute):
    """A member of a role: a Harvest user id."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    """The user's id."""

    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # type: ignore[type-arg]  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The user's URI."""

    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])
    """Always "User": Harvest roles hold users only. (``display``, which Okta sends, is not
    kept: it is ignored.)"""


class ScimGroup(Resource[Any]):
    """A Harvest role (docs/harvest-api.md §7.5)."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    external_id: Annotated[str | None, Mutability.read_write, CaseExact.true] = None
    """The identity provider's identifier for the group. Stored only in thresher: Harvest has no
    field for it."""

    display_name: Annotated[str | None, Required.true, Uniqueness.server] = None
    """The role's ``name`` (unique in Harvest)."""

    members: list[GroupMember] | None = None
    """The role's ``user_ids``."""

    Members: ClassVar[type[ComplexAttribute]] = GroupMember


BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="Bearer token",
    description="A token made with `thresher scim token create`, sent as Authorization: Bearer.",
    spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
    primary=True,
)


def service_provider_config() -> ServiceProviderConfig:
    """What the bridge supports: PATCH and filters; no bulk, sorting, ETags or passwords."""
    return ServiceProviderConfig(
        documentation_uri=Reference[External]("https://github.com/thresher/thresher#scim"),
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[BEARER],
    )


def build_provider(
    user_model: type[Resource[Any]] = ScimUser, harvest_extension: type[Extension] = HarvestUser
) -> ScimProvider:
    """The bridge's description: User (+ enterprise and Harvest extensions) and Group."""
    user_type = ResourceType(
        id="User",
        name="User",
        description="A Harvest user",
        endpoint=Reference[URI]("/Users"),
        schema_=Reference[URI](str(ScimUser.__schema__)),
        schema_extensions=[
            SchemaExtension(schema_=Reference[URI](ENTERPRISE_USER_SCHEMA), required=False),
            # Required: Harvest always has these values; a request that leaves the extension
            # out gets Harvest's defaults (creation) or the current values (replacement).
            SchemaExtension(schema_=Reference[URI](HARVEST_USER_SCHEMA), required=False),
        ],
    )
    group_type = ResourceType(
        id="Group",
        name="Group",
        description="A Harvest role",
        endpoint=Reference[URI]("/Groups"),
        schema_=Reference[URI](str(ScimGroup.__schema__)),
    )
    return ScimProvider(
        [user_model, EnterpriseUser, harvest_extension, ScimGroup],
        resource_types=[user_type, group_type],
        config=service_provider_config(),
        policy=TOLERANT_POLICY,
    )
