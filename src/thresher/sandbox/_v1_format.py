"""The legacy v1 People API's wire formats (docs/migrating-from-v1.md): the user record in XML
(dasherized, typed elements, ``nil="true"``) and JSON (``{"user": {...}}``), request bodies in
either, and v1's error answers.

The record's fields and their order follow Harvest's v1 "Managing Users" page as kept in the
reference file the migration guide cites: XML carries the two identity ids, JSON does not.
Request bodies are read as Rails read them: XML element names with dashes or underscores, ``type``
attributes cast, ``nil="true"`` as null; a JSON body wrapped in ``user`` or not (Rails' params
wrapper), and a JSON value that is not an object read as no fields (docs/harvest-api.md §10).
XML is parsed by ``defusedxml`` with DTDs forbidden, so entity expansion (XML bombs) and external
references never happen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.responses import Response

from ._clock import format_ts
from ._http import JSON
from ._records import User
from ._section import is_admin, is_manager
from ._state import SandboxState

__all__ = ["XML", "V1Error", "parse_v1_body", "people_response", "person_response", "wants_json"]

XML = "application/xml; charset=utf-8"
_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Characters XML 1.0 cannot carry (a sandbox name may hold them: v2 stores what it is sent).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: A header value is one line of printable ASCII (Starlette encodes headers as latin-1).
_NOT_HEADER = re.compile(r"[^\x20-\x7e]")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


class V1Error(Exception):
    """A v1 error answer: the status, and the message in a ``Hint`` header (what v1 clients such
    as the ``harvested`` gem print) and in an ``errors`` body of the negotiated format."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def response(self, as_json: bool) -> Response:
        headers = {**self.headers, "Hint": _NOT_HEADER.sub("?", self.message)[:500]}
        if as_json:
            return Response(orjson.dumps({"errors": [self.message]}), self.status, headers, media_type=JSON)
        body = f"{_PROLOG}<errors>\n  <error>{_text(self.message)}</error>\n</errors>\n"
        return Response(body.encode(), self.status, headers, media_type=XML)


def wants_json(accept: str) -> bool:
    """v1 chose the format by ``Accept``: JSON when it names JSON, XML otherwise (every example
    in the v1 docs was XML, and so is a request without ``Accept``)."""
    return "json" in accept.lower()


# -- the user record ---------------------------------------------------------------------------------
def _decimal(value: float) -> int | float:
    """``0`` and ``100`` as the v1 examples print them; ``12.5`` stays a fraction."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _fields(state: SandboxState, user: User) -> list[tuple[str, str | None, Any]]:
    """(name, XML type, value) in the order of the reference record."""
    hourly, cost = user.default_hourly_rate, user.cost_rate
    return [
        ("id", "integer", user.id),
        ("email", None, user.email),
        ("created-at", "dateTime", format_ts(user.created_at)),
        ("is-admin", "boolean", is_admin(user)),
        ("is-project-manager", "boolean", is_manager(user)),
        ("first-name", None, user.first_name),
        ("last-name", None, user.last_name),
        ("timezone", None, user.timezone),
        ("is-contractor", "boolean", user.is_contractor),
        ("telephone", None, user.telephone),
        ("is-active", "boolean", user.is_active),
        ("has-access-to-all-future-projects", "boolean", user.has_access_to_all_future_projects),
        ("default-hourly-rate", "decimal", None if hourly is None else _decimal(hourly)),
        ("department", None, user.department),
        # The sandbox sends no newsletters; the field keeps the record's shape.
        ("wants-newsletter", "boolean", False),
        ("updated-at", "dateTime", format_ts(user.updated_at)),
        ("cost-rate", "decimal", None if cost is None else _decimal(cost)),
        # The sandbox's identity service (``_identity.py``) knows a user by the user's id.
        ("identity-account-id", "integer", state.account_id),
        ("identity-user-id", "integer", user.id),
    ]


_XML_ONLY = frozenset({"identity-account-id", "identity-user-id"})


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


def _xml_user(state: SandboxState, user: User, indent: str) -> str:
    lines = [f"{indent}<user>"]
    for name, kind, value in _fields(state, user):
        typed = f' type="{kind}"' if kind else ""
        if value is None:
            lines.append(f'{indent}  <{name}{typed} nil="true"/>')
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = _text(value)
        else:
            text = str(value)
        lines.append(f"{indent}  <{name}{typed}>{text}</{name}>")
    lines.append(f"{indent}</user>")
    return "\n".join(lines)


def _json_user(state: SandboxState, user: User) -> dict[str, Any]:
    return {
        "user": {
            name.replace("-", "_"): value for name, _, value in _fields(state, user) if name not in _XML_ONLY
        }
    }


def person_response(state: SandboxState, user: User, as_json: bool) -> Response:
    """``GET /people/{id}``: one record."""
    if as_json:
        return Response(orjson.dumps(_json_user(state, user)), media_type=JSON)
    return Response(f"{_PROLOG}{_xml_user(state, user, '')}\n".encode(), media_type=XML)


def people_response(state: SandboxState, users: Iterable[User], as_json: bool) -> Response:
    """``GET /people``: ``<users type="array">`` of ``<user>``, or a JSON array of ``{"user"}``."""
    if as_json:
        return Response(orjson.dumps([_json_user(state, u) for u in users]), media_type=JSON)
    records = [_xml_user(state, u, "  ") for u in users]
    if not records:
        return Response(f'{_PROLOG}<users type="array"/>\n'.encode(), media_type=XML)
    body = "\n".join((f'{_PROLOG}<users type="array">', *records, "</users>\n"))
    return Response(body.encode(), media_type=XML)


# -- request bodies ------------------------------------------------------------------------------
def parse_v1_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """The user's fields of a create or update body, keys with underscores (``first_name``).
    Raises V1Error 400 on a body that cannot be read."""
    if not raw.strip():
        return {}
    kind = content_type.lower()
    if "json" in kind:
        return _json_fields(raw)
    if "xml" in kind:
        return _xml_fields(raw)
    raise V1Error(400, "Send the body as XML (Content-Type: application/xml) or JSON (application/json)")


def _json_fields(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise V1Error(400, "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        return {}
    fields = data.get("user", data)
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise V1Error(400, 'The JSON body must be {"user": {...}}')
    return {str(key).replace("-", "_"): value for key, value in fields.items()}


def _xml_fields(raw: bytes) -> dict[str, Any]:
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException:
        raise V1Error(400, "XML with a DOCTYPE, entities or external references is refused") from None
    except (ParseError, ValueError, LookupError) as exc:
        raise V1Error(400, f"The XML body is not well-formed ({exc})") from None
    if root.tag != "user":
        raise V1Error(400, "The XML body's root element must be <user>")
    return {child.tag.replace("-", "_"): _xml_value(child) for child in root if isinstance(child.tag, str)}


def _xml_value(element: Element) -> Any:
    """An element's value as Rails' ``Hash.from_xml`` casts it; nested elements become a mapping
    (which the field readers refuse as invalid), never recursed into."""
    if element.get("nil") == "true":
        return None
    if len(element):
        return {"element": element.tag}
    text = element.text or ""
    kind = element.get("type")
    if kind == "boolean":
        word = text.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else text
    if kind in ("integer", "decimal", "float"):
        return text.strip()
    return text
