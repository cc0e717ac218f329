"""What the bridge accepts on the wire, checked before anything reads a resource.

Every refusal is a SCIM error (400, 404 or 413), never a 500 or a dropped connection:

* bodies over ``MAX_BODY`` get 413 before they are read past the limit and before the token is
  checked (an unauthenticated 50 MB POST costs one header read, not the whole upload);
* the query string must be UTF-8, and no value may hold control characters or run past
  ``MAX_STRING`` characters;
* a JSON body must be UTF-8 without lone surrogates (``"\\ud800"``), nest at most ``MAX_DEPTH``
  levels, and hold no control characters or strings over ``MAX_STRING`` characters. PostgreSQL
  cannot store NUL, the stdlib parser recurses into 5,000 nested objects until it fails, and a
  surrogate cannot be encoded for the database: each would otherwise surface as a 500;
* a resource id in the path is 1 to 18 ASCII digits (Harvest's ids), so ``/Users/x%20``,
  ``%00`` or Arabic-Indic digits are a plain 404, and never reach a header;
* the ``Host`` header must be a host name or address (RFC 9112 §3.2: 400 otherwise), so the base
  URL built from it, and every ``Location`` built from that, holds no foreign characters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from scim2_models import (
    InvalidSyntaxException,
    InvalidValueException,
    NotFoundException,
    PayloadTooLargeException,
    SCIMException,
)

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_STRING",
    "base_url",
    "check_body",
    "check_resource_id",
    "decode_query",
    "is_creation",
    "read_body",
    "too_large",
]

#: Largest request body, in bytes (1 MiB): a group PUT with 5,000 members is about 400 KB.
MAX_BODY = 1 << 20
#: Deepest nesting of a JSON body: a PATCH of an extension attribute is 6 levels deep.
MAX_DEPTH = 32
#: Longest string in a body or query value; the mapping has tighter limits per attribute.
MAX_STRING = 8_192

_ENDPOINTS = {"users": "User", "groups": "Group"}
_ID = re.compile(r"[0-9]{1,18}")
# C0 controls but tab, line feed and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A surrogate written as a \u escape, for a filter's string literal (``userName eq "\ud800"``), which
# the filter parser decodes: a high one must be followed by a low one, a low one preceded by a high.
_ESCAPED_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<![dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}))(?::[0-9]{1,5})?")

Message = dict[str, Any]


def too_large() -> SCIMException:
    return PayloadTooLargeException(
        detail=f"the request body is larger than the bridge accepts ({MAX_BODY} bytes)"
    )


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            # The HTTP server (h11) refuses a malformed Content-Length before the app sees it.
            return int(value) if value.strip().isdigit() else None
    return None


async def read_body(
    headers: Iterable[tuple[bytes, bytes]], receive: Callable[[], Awaitable[Message]]
) -> bytes | None:
    """The request body, or None when it is over ``MAX_BODY``: refused from its
    ``Content-Length`` without reading, or as soon as the chunks read pass the limit. Chunks are
    joined once at the end (scim2-server's ``body += chunk`` is quadratic in the body's size)."""
    declared = _declared_length(headers)
    if declared is not None and declared > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing more comes
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _check_text(text: str, where: str) -> None:
    if len(text) > MAX_STRING:
        raise InvalidValueException(
            detail=f"{where} is longer than the bridge accepts ({MAX_STRING} characters)"
        )
    if _CONTROL.search(text):
        raise InvalidValueException(detail=f"{where} holds a control character")
    if _ESCAPED_SURROGATE.search(text):
        raise InvalidValueException(
            detail=f"{where} holds an unpaired surrogate escape (\\ud800-\\udfff), which is not valid Unicode"
        )


def decode_query(raw: bytes) -> dict[str, str]:
    """The query parameters: UTF-8 once percent-decoded, no control characters, no huge value."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeError:
        raise InvalidSyntaxException(detail="the query string is not valid percent-encoded UTF-8") from None
    for name, value in pairs:
        _check_text(name, "a query parameter name")
        _check_text(value, f"the query parameter {name!r}")
    return dict(pairs)


def check_body(body: bytes) -> None:
    """Refuse a JSON body the service could not decode safely (see the module docstring). An
    empty body is left to the service, which knows whether the operation needs one."""
    if not body.strip():
        return
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson's message says what and where (never the input): bad UTF-8, a lone
        # surrogate, a syntax error, or nesting past its own limit.
        raise InvalidSyntaxException(detail=f"the request body is not valid JSON: {exc}") from None
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, "a string in the request body")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidSyntaxException(
                detail=f"the request body nests deeper than the bridge accepts ({MAX_DEPTH} levels)"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, "an attribute name in the request body")
                stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in value)


def check_resource_id(path: str) -> None:
    """404 for ``/Users/{id}`` or ``/Groups/{id}`` whose id is not 1 to 18 ASCII digits
    (``str.isdigit`` accepts Arabic-Indic and other digits, which ``int`` then reads)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1].lower() not in _ENDPOINTS or parts[2] in ("", ".search"):
        return
    if not _ID.fullmatch(parts[2]):
        what = _ENDPOINTS[parts[1].lower()]
        raise NotFoundException(detail=f"{what} not found: ids are Harvest's numeric ids")


def is_creation(method: str, path: str) -> bool:
    """``POST /Users`` or ``POST /Groups``."""
    return method.upper() == "POST" and path.strip("/").lower() in _ENDPOINTS


def base_url(scope: Mapping[str, Any], prefix: str) -> str:
    """The SCIM root as the client sees it, from a ``Host`` checked to be a host (and port),
    or the listening address when the request has none (HTTP/1.0)."""
    host = ""
    for name, value in scope.get("headers", []):
        if name.lower() == b"host":
            host = value.decode("latin-1").strip()
            break
    if host and not _HOST.fullmatch(host):
        raise InvalidSyntaxException(detail="the Host header is not a host name or address")
    if not host and scope.get("server"):
        address, port = scope["server"][:2]
        host = f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"
    scheme = scope.get("scheme") if scope.get("scheme") in ("http", "https") else "http"
    root = quote(str(scope.get("root_path", "")), safe="/")
    return f"{scheme}://{host}{root}{prefix}"
