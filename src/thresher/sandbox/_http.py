"""HTTP plumbing shared by the handlers: responses in each of Harvest's error shapes, the parsed
request (``Call``), and Rails-like reading of JSON or form bodies.

There is no common error envelope in Harvest (docs/harvest-api.md §2); each case has its own body,
and each has its own constructor here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from ._records import AccessToken, User

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "JSON",
    "RAILS_JSON_KEY",
    "ApiError",
    "Call",
    "Form",
    "Handler",
    "bad_request",
    "forbidden",
    "html_not_found",
    "invalid_token",
    "json_response",
    "not_found",
    "parse_body",
    "raw_json",
    "unprocessable",
]

#: §1: "application/json; charset=utf-8".
JSON = "application/json; charset=utf-8"
#: §2 and VCR-401: the Rack::OAuth2 wording, body and header alike.
INVALID_TOKEN_DESCRIPTION = (
    "The access token provided is expired, revoked, malformed or invalid for other reasons."  # noqa: S105
)
_INVALID_TOKEN_BODY = orjson.dumps(
    {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}
)
_WWW_AUTHENTICATE = (
    'Bearer realm="Rack::OAuth2 Protected Resources", error="invalid_token", '
    f'error_description="{INVALID_TOKEN_DESCRIPTION}"'
)
#: §2 and VCR-404 (2024): note the upper-case charset, as recorded.
_NOT_FOUND_BODY = orjson.dumps({"status": 404, "error": "Not Found"})
#: §2 and VCR-HTML: unknown routes answer Harvest's HTML error page.
_HTML_NOT_FOUND = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>HARVEST: Can't find page</title>
</head>
<body>
  <h1>Sorry, we can't find that page.</h1>
  <p>The page you were looking for doesn't exist. You may have mistyped the address or the page
  may have moved.</p>
</body>
</html>
"""


class ApiError(Exception):
    """Raised by a handler to answer with ``response`` instead of its result."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def raw_json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return raw_json(orjson.dumps(data), status, headers)


def invalid_token() -> ApiError:
    """§1.1: a bad, expired or missing token, and a missing or foreign ``Harvest-Account-Id``."""
    return ApiError(raw_json(_INVALID_TOKEN_BODY, 401, {"WWW-Authenticate": _WWW_AUTHENTICATE}))


def not_found() -> ApiError:
    """§2: an unknown record."""
    return ApiError(Response(_NOT_FOUND_BODY, 404, media_type="application/json; charset=UTF-8"))


def html_not_found() -> Response:
    """§2 and gotcha 13: an unknown route."""
    return Response(_HTML_NOT_FOUND, 404, media_type="text/html; charset=utf-8")


def unprocessable(*messages: str) -> ApiError:
    """§2: Rails-style validation messages joined by ", "."""
    return ApiError(json_response({"message": ", ".join(messages)}, 422))


def forbidden(message: str) -> ApiError:
    """§10: no 403 body was ever seen publicly; ``{"message": ...}`` like the 422s."""
    return ApiError(json_response({"message": message}, 403))


def bad_request(message: str) -> ApiError:
    return ApiError(json_response({"message": message}, 400))


@dataclasses.dataclass(slots=True)
class Call:
    """One authenticated API request, as a handler sees it (the body is already read)."""

    request: Request
    params: QueryParams
    body: dict[str, Any]
    actor: User
    token: AccessToken

    @property
    def origin(self) -> str:
        """``scheme://host`` the client used, for absolute ``links`` and ``Location``."""
        url = self.request.url
        return f"{url.scheme}://{url.netloc}"

    def path_id(self, name: str) -> int:
        """An integer path parameter; anything else is an unknown record (404 JSON)."""
        raw = self.request.path_params[name]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:  # §8.12: 64-bit ids
            raise not_found()
        return int(raw)

    @property
    def url_path(self) -> str:
        return self.request.url.path


Handler = Callable[[Call], Response]

#: Where Rails puts a JSON body that is not an object.
RAILS_JSON_KEY = "_json"
#: §8.12: ids and counts are 64-bit integers at most (PostgreSQL ``bigint``).
INT64_MAX = 2**63 - 1
#: PostgreSQL ``integer`` columns (capacities, page numbers).
INT32_MAX = 2**31 - 1
#: Amounts and hours: PostgreSQL ``numeric`` columns hold far less than a float can; anything
#: beyond this is out of range.
NUMBER_MAX = 1e12

_DIGITS = re.compile(r"\s*-?[0-9]{1,40}\s*")
_FORM_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """§1: JSON, or form fields (``roles[]=a&roles[]=b`` for arrays, as Rails reads them).
    Raises ApiError 400 on a body that is not JSON. A JSON value that is not an object (``null``,
    a list, a number) is wrapped as ``{"_json": value}``, as Rails' params parser does
    (docs/harvest-api.md §10): the fields a handler looks for are then simply missing, so a DELETE
    succeeds and a POST or PATCH gets its usual 422."""
    if not raw.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        body: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            match = _FORM_KEY.match(key)
            if match and match.group(2) == "[]":
                body.setdefault(match.group(1), []).append(value)
            else:
                body[key] = value
        return body
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        return {RAILS_JSON_KEY: data}
    return data


def _label(key: str) -> str:
    """Rails' ``humanize``: ``first_name`` -> ``First name``, ``user_ids`` -> ``User ids``."""
    return key.replace("_", " ").capitalize()


_TRUE = ("true", "1", "t", "yes", "on")
_FALSE = ("false", "0", "f", "no", "off")


class Form:
    """Reads fields of a body (or query) the way Rails would cast them, collecting messages.

    Each reader returns None when the field is absent (or JSON null) and appends a message when it
    is present with the wrong type; ``check()`` raises the 422 with every message at once.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: list[str] = []

    def has(self, key: str) -> bool:
        return key in self.data

    def error(self, message: str) -> None:
        self.errors.append(message)

    def check(self) -> None:
        if self.errors:
            raise unprocessable(*self.errors)

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, (bool, list, dict)):
            self.error(f"{_label(key)} is invalid")
            return None
        return str(value).strip()

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        self.error(f"{_label(key)} is not a boolean")
        return None

    def integer(self, key: str, *, minimum: int = -INT64_MAX, maximum: int = INT64_MAX) -> int | None:
        """An integer within ``minimum..maximum`` (64-bit by default: §10, a number out of range
        is a 422 and never stored)."""
        value = self.data.get(key)
        if value is None:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float):
            number = int(value) if math.isfinite(value) and value.is_integer() else None
        elif isinstance(value, str) and _DIGITS.fullmatch(value):
            number = int(value)
        if number is None:
            self.error(f"{_label(key)} is not a number")
            return None
        if number > maximum:
            self.error(f"{_label(key)} must be less than or equal to {maximum}")
            return None
        if number < minimum:
            self.error(f"{_label(key)} must be greater than or equal to {minimum}")
            return None
        return number

    def number(
        self, key: str, *, minimum: float = -NUMBER_MAX, maximum: float = NUMBER_MAX
    ) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value)) if isinstance(value, str) else math.nan
            except ValueError:
                number = math.nan
        if not math.isfinite(number):
            self.error(f"{_label(key)} is not a number")
            return None
        if number > maximum:
            self.error(f"{_label(key)} must be less than or equal to {maximum:g}")
            return None
        if number < minimum:
            self.error(f"{_label(key)} must be greater than or equal to {minimum:g}")
            return None
        return number

    def strings(self, key: str) -> list[str] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value]
        self.error(f"{_label(key)} must be a list of names")
        return None

    def ids(self, key: str) -> list[int] | None:
        """A list of ids; the spec types teammate_ids items as strings, so digit strings count."""
        value = self.data.get(key)
        if value is None:
            return None
        out: list[int] = []
        if isinstance(value, list):
            for v in value:
                if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= INT64_MAX:
                    out.append(v)
                elif isinstance(v, str) and re.fullmatch(r"\s*[0-9]{1,19}\s*", v):
                    out.append(int(v))
                else:
                    break
            else:
                return out
        self.error(f"{_label(key)} must be a list of ids")
        return None
