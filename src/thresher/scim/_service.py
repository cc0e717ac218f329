"""scim2-server's protocol service, with the bridge's one addition: values Harvest always has.

The User schema marks ``timezone``, ``active`` and the Harvest extension's attributes required,
because Harvest always holds a value for them (they can be replaced, never removed). Identity
providers leave them out all the time, so before validation a creation gets Harvest's defaults
and a replacement (PUT) keeps the current values, as if the identity provider had sent them.

``emails`` is required too (Harvest needs an address), but a request without emails whose
userName is an address is read as if it listed that address as the primary work email; the
storage then keeps no emails for the user (``emails_filled``), so the Harvest email is shown.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Union

from scim2_models import (
    BulkRequest,
    BulkResponse,
    InvalidValueException,
    ListResponse,
    PatchOp,
    Path,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    ScimProvider,
    SearchRequest,
)
from scim2_server.service import ScimService

from ._mapping import is_address
from ._models import ACCOUNT_TIMEZONE, HARVEST_DEFAULTS, HARVEST_USER_SCHEMA

__all__ = ["BridgeService", "emails_filled", "last_read"]

#: The resource the storage read last in this request: a PUT reads the current state first.
last_read: contextvars.ContextVar[Resource[Any] | None] = contextvars.ContextVar(
    "thresher_scim_last_read", default=None
)


#: Whether the bridge filled this request's emails from its userName (set for every User
#: creation, replacement and PATCH, before the storage runs).
emails_filled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "thresher_scim_emails_filled", default=False
)


def _fill_emails(body: dict[str, Any]) -> dict[str, Any]:
    key = _key(body, "emails")
    user_name = body.get(_key(body, "userName") or "userName")
    if (key is not None and body[key]) or not isinstance(user_name, str):
        return body  # emails given, or no userName: scim2-models says what is wrong
    if not is_address(user_name):
        raise InvalidValueException(
            detail=f"userName {user_name[:80]!r} is not an email address and emails is missing: "
            "send the user's address in emails (primary or type work)"
        )
    emails_filled.set(True)
    return {**body, key or "emails": [{"value": user_name, "type": "work", "primary": True}]}


def _split_value_paths(body: bytes) -> bytes:
    """Entra's path-less ``replace`` may key its value by a filtered path
    (``{"emails[type eq \"work\"].value": "..."}``), which scim2-models takes for an unknown
    attribute and drops: each such key becomes an operation of its own, with that path."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body
    if not isinstance(decoded, dict):
        return body
    operations = decoded.get(_key(decoded, "Operations") or "Operations")
    if not isinstance(operations, list):
        return body
    split: list[Any] = []
    changed = False
    for operation in operations:
        value = operation.get("value") if isinstance(operation, dict) else None
        if not isinstance(value, dict) or operation.get("path") or not any("[" in k for k in value):
            split.append(operation)
            continue
        changed = True
        plain = {k: v for k, v in value.items() if "[" not in k}
        if plain:
            split.append({**operation, "value": plain})
        split += [{**operation, "path": k, "value": v} for k, v in value.items() if "[" in k]
    if not changed:
        return body
    return json.dumps({**decoded, _key(decoded, "Operations") or "Operations": split}).encode()


def _key(body: dict[str, Any], name: str) -> str | None:
    # RFC 7643 §2.1: attribute names are case-insensitive.
    return next((k for k in body if k.lower() == name.lower()), None)


def _fill(body: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    for name, value in defaults.items():
        if value is None:
            continue
        key = _key(body, name)
        if key is None or body[key] is None:
            body[key or name] = value
    urn = _key(body, HARVEST_USER_SCHEMA)
    extension = body.get(urn) if urn else None
    if urn is None or not isinstance(extension, dict):
        extension = {}
    body[urn or HARVEST_USER_SCHEMA] = _fill_extension(extension, defaults[HARVEST_USER_SCHEMA])
    schemas = body.get("schemas")
    if isinstance(schemas, list) and HARVEST_USER_SCHEMA not in schemas:
        body["schemas"] = [*schemas, HARVEST_USER_SCHEMA]
    return body


def _fill_extension(extension: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    extension = dict(extension)
    for name, value in defaults.items():
        key = _key(extension, name)
        if value is not None and (key is None or extension[key] is None):
            extension[key or name] = value
    return extension


class BridgeService(ScimService):
    """The protocol service, filling the always-present Harvest values a request leaves out."""

    def __init__(self, provider: ScimProvider, *, secret: str | bytes | None = None) -> None:
        super().__init__(provider, secret=secret)
        # scim2-server parametrizes its generic messages per request (ListResponse[User | Group],
        # SearchRequest[User], PatchOp[User], ...). Pydantic caches parametrized classes in a
        # weak-value dictionary, so once a garbage collection frees the class, the next request
        # builds the whole model class again: about 6 ms, on roughly one request in seven
        # (bench/scim.py's p99 went from 10 ms to under 5 ms with these references held).
        models = self.get_models()
        every: Any = Union[tuple(models)]  # noqa: UP007 - a runtime union of the provider's models
        self._pinned: list[Any] = [
            generic[every]
            for generic in (ListResponse, SearchRequest, BulkRequest, BulkResponse, ScimFilter)
        ]
        for model in models:
            self._pinned += [
                generic[model]
                for generic in (SearchRequest, ResponseParameters, PatchOp, ScimFilter, Path)
            ]

    def _prepared(self, resource_type: ResourceType, body: bytes, defaults: dict[str, Any]) -> bytes:
        emails_filled.set(False)
        if resource_type.name != "User":
            return body
        try:
            decoded = json.loads(body)
        except ValueError:
            return body  # the service refuses it with invalidSyntax
        if not isinstance(decoded, dict):
            return body
        return json.dumps(_fill_emails(_fill(decoded, defaults))).encode()

    def read_creation(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        defaults = {
            "active": True,
            "timezone": ACCOUNT_TIMEZONE,
            HARVEST_USER_SCHEMA: HARVEST_DEFAULTS,
        }
        return super().read_creation(
            resource_type, self._prepared(resource_type, body, defaults), content_type
        )

    def read_patch(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> PatchOp[Any]:
        emails_filled.set(False)
        return super().read_patch(resource_type, _split_value_paths(body), content_type)

    def read_replacement(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        current = last_read.get()
        dumped = current.model_dump(mode="json") if current is not None else {}
        defaults = {
            "active": dumped.get("active", True),
            "timezone": dumped.get("timezone") or ACCOUNT_TIMEZONE,
            HARVEST_USER_SCHEMA: {
                name: (dumped.get(HARVEST_USER_SCHEMA) or HARVEST_DEFAULTS).get(name)
                for name in HARVEST_DEFAULTS
            },
        }
        return super().read_replacement(
            resource_type, self._prepared(resource_type, body, defaults), content_type
        )
