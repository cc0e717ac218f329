"""``GET /Groups/{id}`` without a model object per member (RFC 7644 §3.4.1).

scim2-server reads a resource, copies it deeply to publish it (``$ref`` values become URLs), then
dumps it with the response parameters: for a group of 2,000 members, 2,000 pydantic objects built,
copied and dumped, about 300 ms. Every member of a group has the same shape (``group_member`` in
``_mapping``): only its id differs. So the bridge runs scim2-server's own steps on the group with
its first member only, and writes the other members after the pattern the published first one
shows, with the same keys in the same order. meta, the response parameters (``attributes``,
``excludedAttributes``, sub-attributes such as ``members.value``), conditional requests and the
headers stay scim2-server's. When the published member does not match that pattern, the request
takes scim2-server's usual path (tests/scim/test_group_reads.py compares the two).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import orjson
from scim2_server.handler import AsyncScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from scim2_server.service import ScimService

from ._models import ScimUser
from ._storage import HarvestStorage
from ._user_reads import UserReads

__all__ = ["BridgeHandler", "GroupResponse", "expand_members"]

#: A member's attribute, from its user id and the published first member's value.
_Writer = Callable[[str], str]


def expand_members(
    body: dict[str, Any] | None, member_ids: list[int], user_location: Callable[[str], str]
) -> bool:
    """Put every member of ``member_ids`` in ``body``, a published group holding the first one
    only. ``user_location``: the URL of a user from its id. False, with ``body`` untouched, when
    the published member does not have the expected shape."""
    if body is None:  # 304 Not Modified
        return True
    entries = body.get("members")
    if entries is None:
        return True  # left out by the response parameters, or no member shown
    if not member_ids or not isinstance(entries, list) or len(entries) != 1:
        return False
    first = str(member_ids[0])
    sample = entries[0]
    if not isinstance(sample, dict):
        return False
    writers: list[tuple[str, _Writer | str]] = []
    for key, value in sample.items():
        if key == "value" and value == first:
            writers.append((key, _same))
        elif key == "$ref" and value == user_location(first):
            writers.append((key, user_location))
        elif key == "type" and value == "User":
            writers.append((key, value))
        else:
            return False
    uids = list(map(str, member_ids))
    if [key for key, _ in writers] == ["value", "$ref", "type"]:
        # The whole member, as most reads ask for it: one dict literal each, no loop per key.
        body["members"] = [{"value": u, "$ref": user_location(u), "type": "User"} for u in uids]
    else:
        body["members"] = [
            {key: w if isinstance(w, str) else w(u) for key, w in writers} for u in uids
        ]
    return True


def _same(uid: str) -> str:
    return uid


@dataclasses.dataclass
class GroupResponse(ScimResponse):
    """A fast group read's response: its body is encoded by orjson (a tenth of ``json.dumps``'s
    time for 2,000 members; the same JSON value)."""

    def encoded_body(self) -> bytes:
        return b"" if self.body is None else orjson.dumps(self.body)


class BridgeHandler(AsyncScimHandler):
    """scim2-server's handler, with the fast reads of groups, and of users (``_user_reads``:
    only for the Harvest storage and its own user model, which it writes directly)."""

    storage: HarvestStorage

    def __init__(self, service: ScimService, storage: HarvestStorage) -> None:
        super().__init__(service, storage)
        default_users = type(storage) is HarvestStorage and storage.user_model.__bases__ == (ScimUser,)
        self.user_reads = UserReads(service, storage, enabled=default_users)

    async def query(self, request: ScimRequest) -> ScimResponse:
        response = await self.user_reads.query(request)
        if response is None:
            response = await self._group_query(request)
        return response if response is not None else await super().query(request)

    async def _group_query(self, request: ScimRequest) -> ScimResponse | None:
        """scim2-server's ``query`` steps, on the group with its first member (None: not a group,
        or a published member of another shape)."""
        service = self.service
        with service.provider:
            target = service.route(request, Operation.query)
            resource_type = service.resource_type_at(cast(str, target.endpoint))
            if resource_type.name != "Group":
                return None
            service.authorize(request, target, resource_type)
            parameters = service.read_response_parameters(resource_type, request.query)
            async with self.storage.operation():
                work = self.storage.work
                group, role_id = await work.read(self.storage.group_sample, cast(str, target.resource_id))
                response = service.query_response(
                    request.base_url, group, parameters, service.read_conditions(request)
                )
                # Members left out (excludedAttributes=members, as Okta and Entra read groups):
                # no need to read their ids.
                wanted = isinstance(response.body, dict) and response.body.get("members") is not None
                member_ids = await work.read(self.storage.shown_member_ids, role_id) if wanted else []
            if not expand_members(
                response.body, member_ids, _user_location(service, request.base_url)
            ):
                return None
            fast = GroupResponse(response.status, response.body, response.headers)
            return service.me_response(request, target, fast)

    async def search(self, request: ScimRequest) -> ScimResponse:
        response = await self.user_reads.search(request)
        if response is None:
            response = await self._group_search(request)
        return response if response is not None else await super().search(request)

    async def _group_search(self, request: ScimRequest) -> ScimResponse | None:
        """scim2-server's ``search`` steps (GET), on groups with their first member each (None:
        not a search of groups, or a published member of another shape)."""
        service = self.service
        with service.provider:
            target = service.route(request, Operation.search)
            resource_types = service.searched_types(target.endpoint)
            if [rt.name for rt in resource_types] != ["Group"]:
                return None
            service.authorized_types(request, target, resource_types)
            search_request, _ = service.read_search_query(resource_types, request.query)
            if search_request.cursor is not None:
                return None
            async with self.storage.operation():
                page, members = await self.storage.work.read(
                    self.storage.search_group_samples, search_request
                )
            response = service.search_response(
                request.base_url, resource_types, page, search_request
            )
            location = _user_location(service, request.base_url)
            entries = (response.body or {}).get("Resources") or []
            for entry in entries:
                if not expand_members(entry, members.get(str(entry.get("id")), []), location):
                    return None
            return GroupResponse(response.status, response.body, response.headers)


def _user_location(service: ScimService, base_url: str) -> Callable[[str], str]:
    """A user's URL from their id, as scim2-server publishes a ``$ref``: a prefix and the id when
    two probes show it is that (a concatenation per member instead of an endpoint lookup each)."""

    def location(uid: str) -> str:
        return service.reference_location(base_url, f"Users/{uid}")

    url = location("1")
    prefix = url[:-1]
    if not url.endswith("/1") or location("2") != prefix + "2":
        return location
    return lambda uid: prefix + uid
