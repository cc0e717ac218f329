"""User reads without pydantic models: ``GET /Users?filter=userName eq "..."`` (and ``externalId
eq``, ``id eq``), ``GET /Users/{id}`` and plain listings with ``startIndex``/``count``.

scim2-server answers a lookup by building a model of the user (``user_resource`` in
``_mapping``), copying it deeply to publish it, dumping it with the response parameters, then
building and dumping a ``ListResponse`` around it: about 4 ms of CPU per lookup, when the store
read is a tenth of that. Identity providers make that lookup before every write, at hundreds per
second. So the common reads write the published user directly, as a dict in the attribute order
scim2-server's dump gives (the JSON encoder then writes the same bytes).

Anything else takes scim2-server's usual path: ``attributes``/``excludedAttributes``, conditional
headers, other filters, a custom user model, an address scim2-models cannot show. And the direct
writing is checked against scim2-server at run time: the first user of each shape (which
attributes are present, how many emails, whether the Harvest extension is shown...) is also
published the usual way, and a shape whose two answers differ is served the usual way from then
on (logged once). tests/scim/test_user_reads.py compares both paths over many kinds of users.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from scim2_models import AttributeBinding, Context, Email, Path
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService

from thresher.harvest import UnknownTimezoneError, harvest_to_iana
from thresher.store import StoredUser

from ._local import UserExtras
from ._mapping import user_resource
from ._models import ENTERPRISE_USER_SCHEMA, HARVEST_DEFAULTS, HARVEST_USER_SCHEMA
from ._storage import HarvestStorage

__all__ = ["UserReads", "address_shown"]

log = logging.getLogger("thresher.scim")

_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
_LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
# The filters identity providers look users up with; the value without escapes (anything else,
# or a backslash in it, is left to scim2-models' parser).
_FILTER = re.compile(r'\s*(userName|externalId|id)\s+eq\s+"([^"\\]+)"\s*', re.IGNORECASE)
_KINDS = {"username": "userName", "externalid": "externalId", "id": "id"}
# The store's lookup for each (``ScimRecords.lookup_users``).
_LOOKUPS = {"userName": "user_name", "externalId": "external_id", "id": "harvest_id"}
_INDEX = re.compile(r"[1-9][0-9]{0,8}")
_COUNT = re.compile(r"[0-9]{1,9}")
# ``/Users/{id}``, as scim2-server routes it (``Target(query, "Users", id)``), for Harvest's ids.
_USER_PATH = re.compile(r"/Users/([0-9]{1,18})")
_SEARCH_KEYS = frozenset({"filter", "startIndex", "count"})
_CONDITIONAL = ("If-Match", "If-None-Match")

# -- addresses -------------------------------------------------------------------------------

# An address email-validator surely accepts, and writes back as is but for its domain in lower
# case: an ASCII dot-atom local part, a domain of letters, digits and inner hyphens with at least
# two labels and an alphabetic top-level label, none of them special-use (email-validator refuses
# those: ``jane@corp.local``, ``user@example.test``). Anything else is asked of scim2-models'
# ``Email`` itself (tests/scim/test_user_reads.py checks this shortcut against it).
_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[A-Za-z0-9_%+'=-]+(?:\.[A-Za-z0-9_%+'=-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_checked: dict[str, str | None] = {}
_CHECKED_MAX = 50_000


def address_shown(value: str) -> str | None:
    """The address as scim2-models' ``Email`` shows it (normalized), or None when it refuses it."""
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None and len(value) <= 254 and len(plain["local"]) <= 64:
        domain = plain["domain"].lower()
        if "--" not in domain and len(domain) <= 253 and domain.rpartition(".")[2] not in _SPECIAL_USE:
            return f"{plain['local']}@{domain}"
    if value in _checked:
        return _checked[value]
    try:
        shown = Email.model_validate({"value": value}).value
    except ValidationError:
        shown = None
    if len(_checked) >= _CHECKED_MAX:
        _checked.clear()
    _checked[value] = shown
    return shown


# -- one user --------------------------------------------------------------------------------


class _Unshowable(Exception):
    """The user holds something only the usual path knows how to show (or refuse)."""


def _email_entries(user: StoredUser, extras: UserExtras) -> list[dict[str, Any]]:
    raw = extras.emails
    if raw is None:
        raw = [{"value": user.email, "type": "work", "primary": True}]
    shown: list[dict[str, Any]] = []
    for entry in raw:
        if not isinstance(entry, dict) or not entry.keys() <= {"value", "display", "type", "primary"}:
            raise _Unshowable
        value, display, kind, primary = (
            entry.get("value"),
            entry.get("display"),
            entry.get("type"),
            entry.get("primary"),
        )
        if not (
            isinstance(value, str)
            and (display is None or isinstance(display, str))
            and (kind is None or isinstance(kind, str))
            and (primary is None or type(primary) is bool)
        ):
            raise _Unshowable
        address = address_shown(value)
        if address is None:
            raise _Unshowable  # left out and logged by the usual path (``_mapping._shown_emails``)
        item: dict[str, Any] = {"value": address}
        if display is not None:
            item["display"] = display
        if kind is not None:
            item["type"] = kind
        if primary is not None:
            item["primary"] = primary
        shown.append(item)
    return shown


def _number(value: int | Decimal | None, scale: int = 1) -> float | None:
    return None if value is None else float(value) / scale if scale != 1 else float(value)


def _timestamp(value: Any) -> Any:
    return None if value is None else to_jsonable_python(value)


def render_user(
    user: StoredUser,
    extras: UserExtras,
    role_ids: Mapping[str, int],
    location: str,
    group_location: Callable[[str], str],
) -> dict[str, Any]:
    """The user as scim2-server publishes and dumps it for a read (``_mapping.user_resource``,
    then ``ScimService.publish``, then ``model_dump`` in the query response context).
    :class:`_Unshowable` when only the usual path can tell."""
    timezone = None
    if user.timezone:
        try:
            timezone = harvest_to_iana(user.timezone)
        except (UnknownTimezoneError, KeyError):
            timezone = None
    harvest = {
        "accessRoles": list(user.access_roles),
        "weeklyCapacityHours": _number(user.weekly_capacity, 3600),
        "contractor": user.is_contractor,
        "allFutureProjects": user.has_access_to_all_future_projects,
        "defaultBillableRate": _number(user.default_hourly_rate),
        "costRate": _number(user.cost_rate),
    }
    show_harvest = not (
        all(harvest[name] == value for name, value in HARVEST_DEFAULTS.items())
        and harvest["defaultBillableRate"] is None
        and harvest["costRate"] is None
    )
    enterprise = {
        k: v
        for k, v in (("employeeNumber", extras.employee_number), ("department", extras.department))
        if v is not None
    }
    out: dict[str, Any] = {"schemas": [_USER_SCHEMA]}
    if enterprise:
        out["schemas"].append(ENTERPRISE_USER_SCHEMA)
    if show_harvest:
        out["schemas"].append(HARVEST_USER_SCHEMA)
    out["id"] = str(user.harvest_id)
    if extras.external_id is not None:
        out["externalId"] = extras.external_id
    meta = {"resourceType": "User"}
    created, modified = _timestamp(user.created_at), _timestamp(user.updated_at)
    if created is not None:
        meta["created"] = created
    if modified is not None:
        meta["lastModified"] = modified
    meta["location"] = location
    out["meta"] = meta
    out["userName"] = extras.user_name or user.email
    name = {
        k: v for k, v in (("familyName", user.last_name), ("givenName", user.first_name)) if v is not None
    }
    if name:
        out["name"] = name
    if user.full_name is not None:
        out["displayName"] = user.full_name
    if timezone is not None:
        out["timezone"] = timezone
    if user.is_active is not None:
        out["active"] = user.is_active
    emails = _email_entries(user, extras)
    if emails:
        out["emails"] = emails
    groups = []
    for role in user.roles:
        rid = role_ids.get(role)
        if rid is not None:
            value = str(rid)
            groups.append({"value": value, "$ref": group_location(value), "display": role, "type": "direct"})
    if groups:
        out["groups"] = groups
    if enterprise:
        out[ENTERPRISE_USER_SCHEMA] = enterprise
    if show_harvest:
        out[HARVEST_USER_SCHEMA] = {k: v for k, v in harvest.items() if v is not None}
    return out


def _shape(value: Any) -> Any:
    """What the published form's structure depends on: keys, in order, and for lists, the shape of
    their items (never the values, but for ``type`` and ``primary`` of emails, which are few)."""
    if isinstance(value, dict):
        return tuple((k, _shape(v)) for k, v in value.items())
    if isinstance(value, list):
        return (*(_shape(v) for v in value[:3]), len(value) > 3)
    if isinstance(value, str):
        return "" if value == "" else "s"
    return type(value).__name__


# -- the handler's part ----------------------------------------------------------------------


class UserReads:
    """The fast user reads of one bridge (None from :meth:`search` or :meth:`query`: take the
    usual path)."""

    def __init__(self, service: ScimService, storage: HarvestStorage, *, enabled: bool) -> None:
        self.service = service
        self.storage = storage
        self.enabled = enabled
        with service.provider:
            self._user_type = service.get_resource_type("User")
            self._model = service.get_model(self._user_type)
            self._bindings: dict[str, AttributeBinding] = {}
            for kind in ("userName", "externalId", "id"):
                binding = Path[self._model](kind).resolve()  # type: ignore[name-defined]
                assert binding is not None
                self._bindings[kind] = binding
        #: Requests the fast reads answered (the others took the usual path).
        self.served = 0
        self._checked: set[Any] = set()
        self._refused: set[Any] = set()
        config = service.config
        pagination = config.pagination
        self._default_count = pagination.default_page_size if pagination is not None else None
        bounds = [
            b
            for b in (
                config.filter.max_results if config.filter else None,
                pagination.max_page_size if pagination else None,
            )
            if b is not None
        ]
        self._max_count = min(bounds) if bounds else None
        self._filter_supported = bool(config.filter and config.filter.supported)
        self._index_paging = pagination is None or bool(pagination.index)

    # -- requests --------------------------------------------------------------------------

    def _plain(self, request: ScimRequest) -> bool:
        if not self.enabled or request.method.upper() != "GET":
            return False
        return all(request.header(name) is None for name in _CONDITIONAL)

    async def search(self, request: ScimRequest) -> ScimResponse | None:
        """``GET /Users`` with at most ``filter`` (one ``eq`` of userName, externalId or id),
        ``startIndex`` and ``count``."""
        if not self._plain(request) or not self._index_paging:
            return None
        query = request.query
        if not query.keys() <= _SEARCH_KEYS:
            return None
        lookup: tuple[str, str] | None = None
        if "filter" in query:
            found = _FILTER.fullmatch(query["filter"])
            if found is None or not self._filter_supported:
                return None
            lookup = (_KINDS[found[1].lower()], found[2])
        start = query.get("startIndex", "1")
        count_text = query.get("count")
        if not _INDEX.fullmatch(start) or (count_text is not None and not _COUNT.fullmatch(count_text)):
            return None
        count = int(count_text) if count_text is not None else self._default_count
        if self._max_count is not None and (count is None or count > self._max_count):
            count = self._max_count
        if request.path != "/Users":
            return None
        service = self.service
        with service.provider:
            # What ``service.route`` finds for this path (the handler matched it already).
            target = Target(Operation.search, endpoint="Users")
            service.authorized_types(request, target, [self._user_type])
            async with self.storage.operation():
                await self.storage._drain()
                users, role_ids = await self.storage.work.quick_read(self._read_users, lookup)
            if lookup is not None:
                binding = self._bindings[lookup[0]]
                wanted = binding.comparable(lookup[1])
                users = [
                    (u, e) for u, e in users if binding.comparable(_attribute(lookup[0], u, e)) == wanted
                ]
            first = int(start) - 1
            page = users[first : None if count is None else first + count]
            rendered = self._render(request.base_url, page, role_ids)
            if rendered is None:
                return None
        body: dict[str, Any] = {
            "schemas": [_LIST_SCHEMA],
            "totalResults": len(users),
            "startIndex": int(start),
            "itemsPerPage": len(rendered),
            "Resources": rendered,
        }
        self.served += 1
        return ScimResponse(HTTPStatus.OK, body)

    async def query(self, request: ScimRequest) -> ScimResponse | None:
        """``GET /Users/{id}`` without response parameters."""
        path = _USER_PATH.fullmatch(request.path)
        if path is None or not self._plain(request) or request.query:
            return None
        service = self.service
        with service.provider:
            resource_id = path[1]
            target = Target(Operation.query, endpoint="Users", resource_id=resource_id)
            service.authorize(request, target, self._user_type)
            async with self.storage.operation():
                await self.storage._drain()
                users, role_ids = await self.storage.work.quick_read(self._read_users, ("id", resource_id))
            if not users:
                return None  # the usual path says how it is not found
            rendered = self._render(request.base_url, users, role_ids)
            if rendered is None:
                return None
            response = ScimResponse(
                HTTPStatus.OK, rendered[0], {"Content-Location": rendered[0]["meta"]["location"]}
            )
            self.served += 1
            return service.me_response(request, target, response)

    # -- store and rendering ---------------------------------------------------------------

    def _read_users(
        self, lookup: tuple[str, str] | None
    ) -> tuple[list[tuple[StoredUser, UserExtras]], dict[str, int]]:
        """The visible users a lookup finds (all of them without one), by id, and the role ids
        their groups need. Runs in a worker thread (``_offload``)."""
        storage = self.storage
        role_ids: dict[str, int] | None = None
        if lookup is None:
            users = storage.store.list_users(storage.connection_id)
            extras = storage.local.user_extras([u.harvest_id for u in users] if len(users) < 500 else None)
            pairs = [(u, extras.get(u.harvest_id, UserExtras())) for u in users]
        else:
            kind, value = lookup
            if kind == "id" and not (value.isascii() and value.isdigit() and len(value) <= 18):
                found: dict[int, tuple[StoredUser, UserExtras]] = {}
                role_ids = {}
            else:
                found, role_ids = storage.local.lookup_users(_LOOKUPS[kind], value)
            pairs = list(found.values())
        pairs = sorted(((u, e) for u, e in pairs if e.hidden_at is None), key=lambda pair: pair[0].harvest_id)
        if role_ids is None:
            role_ids = storage.local.role_ids_by_name() if any(u.roles for u, _ in pairs) else {}
        return pairs, role_ids

    def _render(
        self,
        base_url: str,
        users: list[tuple[StoredUser, UserExtras]],
        role_ids: dict[str, int],
    ) -> list[dict[str, Any]] | None:
        service = self.service
        group_location = _group_location(service, base_url)
        rendered = []
        for user, extras in users:
            try:
                out = render_user(
                    user,
                    extras,
                    role_ids,
                    service.resource_location(base_url, self._user_type, str(user.harvest_id)),
                    group_location,
                )
            except _Unshowable:
                return None
            shape = _shape(out)
            if shape not in self._checked and (
                shape in self._refused
                or not self._same_as_usual(base_url, (user, extras), role_ids, out, shape)
            ):
                return None
            rendered.append(out)
        return rendered

    def _same_as_usual(
        self,
        base_url: str,
        pair: tuple[StoredUser, UserExtras],
        role_ids: dict[str, int],
        out: dict[str, Any],
        shape: Any,
    ) -> bool:
        """Publish the user the usual way and compare: the first of each shape."""
        user, extras = pair
        resource = user_resource(self._model, user, extras, role_ids)
        usual = self.service.publish(base_url, resource).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        if json.dumps(usual) == json.dumps(out):
            self._checked.add(shape)
            return True
        self._refused.add(shape)
        log.warning(
            "the bridge's direct rendering of users differs from scim2-server's for one kind of "
            "user; those users are read the usual way"
        )
        return False


def _attribute(kind: str, user: StoredUser, extras: UserExtras) -> str | None:
    if kind == "userName":
        return extras.user_name or user.email
    if kind == "externalId":
        return extras.external_id
    return str(user.harvest_id)


def _group_location(service: ScimService, base_url: str) -> Callable[[str], str]:
    """A group's URL from its id, as scim2-server publishes a ``$ref`` (see ``_group_reads``)."""

    def location(gid: str) -> str:
        return service.reference_location(base_url, f"Groups/{gid}")

    url = location("1")
    prefix = url[:-1]
    if not url.endswith("/1") or location("2") != prefix + "2":
        return location
    return lambda gid: prefix + gid
