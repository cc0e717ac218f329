"""Every exception of the Harvest client, grouped by what the caller should do
(docs/architecture.md, house style 2).

======================  =====================================================================
Group                   Members
======================  =====================================================================
``CredentialsError``    re-authenticate or get another role: ``AuthenticationError`` (401),
                        ``PermissionDeniedError`` (403)
``InputError``          fix the input or the configuration: ``ConfigurationError``,
                        ``InvalidRequestError`` (refused before sending), ``BadRequestError``
                        (400 and other 4xx), ``NotFoundError`` (404), ``UnprocessableError`` (422)
``RetryableError``      retry later: ``RateLimitedError`` (429), ``ServerError`` (5xx),
                        ``TransportError`` (no HTTP answer)
``UnrecoverableError``  give up and look: ``AmbiguousCreateError``, ``PaginationError``,
                        ``UnexpectedResponseError``
======================  =====================================================================

Every error raised for an HTTP exchange carries ``method``, ``url`` (secret query parameters
redacted), ``status_code`` (None when no answer came) and ``body`` (the response text, secrets
redacted, truncated), plus ``api_message``: what Harvest said, parsed per docs/harvest-api.md §2.
"""

from __future__ import annotations

from typing import Any

import httpx

from .._errors import ThresherError
from .._http_common import body_text, json_object
from ._redact import Redactor, redact_url

__all__ = [
    "AmbiguousCreateError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "CredentialsError",
    "HarvestError",
    "InputError",
    "InvalidRequestError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryableError",
    "ServerError",
    "TransportError",
    "UnexpectedResponseError",
    "UnprocessableError",
    "UnrecoverableError",
    "error_from_response",
    "parse_error_body",
]

_BODY_LIMIT = 2000


class HarvestError(ThresherError):
    """Base of every Harvest client error."""

    method: str | None = None
    url: str | None = None
    status_code: int | None = None
    #: Response text with secrets redacted and truncated; None when there was no response.
    body: str | None = None
    #: Harvest's own words (``message``, ``error_description``...), when the body had any.
    api_message: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        body: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.method = method
        self.url = redact_url(url) if url is not None else None
        self.status_code = status_code
        self.body = body
        self.api_message = api_message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status_code={self.status_code!r})"


# --- re-authenticate -----------------------------------------------------------------------------
class CredentialsError(HarvestError):
    """The token is not accepted, or its owner lacks the role: re-authenticate or use another."""

    exit_code = 77  # sysexits EX_NOPERM


class AuthenticationError(CredentialsError):
    """401, or the OAuth token endpoint refused a grant (``invalid_grant``)."""


class PermissionDeniedError(CredentialsError):
    """403: the token's owner lacks the role; ``required_role`` names the role needed."""

    required_role: str | None = None

    def __init__(self, message: str, *, required_role: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required_role = required_role


# --- fix input -----------------------------------------------------------------------------------
class InputError(HarvestError):
    """The request or the configuration is wrong: change it before trying again."""

    exit_code = 65  # sysexits EX_DATAERR


class ConfigurationError(InputError):
    """Settings cannot work: missing token, account id, or an unusable User-Agent."""

    exit_code = 78  # sysexits EX_CONFIG


class InvalidRequestError(InputError):
    """Refused client-side before anything was sent (a request model or argument is invalid)."""


class BadRequestError(InputError):
    """400 (e.g. a missing User-Agent, gotcha 6) or another 4xx without its own class."""


class NotFoundError(InputError):
    """404: the record does not exist, or (HTML body) the route does not (gotcha 13)."""


class UnprocessableError(InputError):
    """422: Harvest refused the values; ``api_message`` holds its Rails-style text (§2)."""


# --- retry later ---------------------------------------------------------------------------------
class RetryableError(HarvestError):
    """A temporary condition: the same request may succeed later."""

    exit_code = 75  # sysexits EX_TEMPFAIL


class RateLimitedError(RetryableError):
    """429 after the retry budget was spent; ``retry_after`` is Harvest's wait in seconds, if sent."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """5xx from Harvest (or Cloudflare in front of it)."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransportError(RetryableError):
    """No HTTP answer: connection refused, reset, timed out.

    ``request_sent`` is False only when the request certainly never reached Harvest (connection
    refused, connect or pool timeout), which is what makes a POST safe to retry.
    """

    request_sent: bool = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


# --- give up -------------------------------------------------------------------------------------
class UnrecoverableError(HarvestError):
    """Retrying the same call will not help; a person (or a higher-level check) must look."""

    exit_code = 1


class AmbiguousCreateError(UnrecoverableError):
    """A POST was sent but no clear answer came back: it may or may not have been processed."""


class PaginationError(UnrecoverableError):
    """The list endpoint's ``links.next`` repeated a URL or cursor, or was unusable (§3)."""


class UnexpectedResponseError(UnrecoverableError):
    """A success status with a body the client cannot read as the documented shape."""


# --- response -> error ---------------------------------------------------------------------------
# Who may call what (docs/harvest-api.md §6.1, §7): named in 403 errors so the user knows whom to ask.
_ROLE_NEEDED: tuple[tuple[str, str, str], ...] = (
    # (method or "*", path fragment, role)
    ("*", "/teammates", "Administrator"),
    ("*", "/cost_rates", "Administrator"),
    ("*", "/billable_rates", "Administrator, or a Manager allowed to edit billable rates"),
    ("*", "/project_assignments", "Administrator, or a Manager with assigned teammates"),
    ("*", "/user_assignments",
     "Administrator, or a Manager with assigned teammates or managed projects"),
    ("*", "/roles", "Administrator"),
    ("*", "/company", "Administrator"),  # §7.6 [U]: GET may be open to everyone
    ("POST", "/users", "Administrator"),
    ("DELETE", "/users", "Administrator (Managers cannot archive, restore or delete people)"),
    ("*", "/users", "Administrator, or a Manager with assigned teammates"),
)


def _required_role(method: str, path: str) -> str:
    for wanted_method, fragment, role in _ROLE_NEEDED:
        if fragment in path and wanted_method in ("*", method):
            return role
    return "Administrator"


def parse_error_body(response: httpx.Response) -> str | None:
    """Harvest's message from an error body, by the §2 rule.

    There is no common envelope: try JSON and read ``message``, else ``error_description``, else
    ``error`` (with ``status`` when present, as in the 404 shape); an HTML page or an empty body
    (the 429 recording) yields None.
    """
    data = json_object(response)
    if data is None:
        return None
    for key in ("message", "error_description"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    error, status = data.get("error"), data.get("status")
    if isinstance(error, str) and error:
        return f"{status} {error}" if isinstance(status, int) else error
    return None


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def _path(url: httpx.URL) -> str:
    return url.path


def error_from_response(
    response: httpx.Response,
    *,
    redactor: Redactor | None = None,
    retry_after: float | None = None,
) -> HarvestError:
    """The error for a non-2xx response, carrying method, redacted URL, status and body."""
    redactor = redactor or Redactor()
    request = response.request
    method, url = request.method, str(request.url)
    status = response.status_code
    api_message = parse_error_body(response)
    if api_message is not None:
        api_message = redactor.redact_text(api_message)
    body = body_text(response, redactor, limit=_BODY_LIMIT)
    where = f"{method} {_path(request.url)}"
    said = f": {api_message}" if api_message else ""
    common: dict[str, Any] = {
        "method": method, "url": url, "status_code": status, "body": body, "api_message": api_message,
    }

    if status == 401:
        hint = "Check HARVEST_ACCESS_TOKEN: create a new personal access token at " \
            "https://id.getharvest.com/developers, or log in again."
        data = json_object(response) or {}
        if data.get("error") == "invalid_token" or "invalid_token" in response.headers.get(
            "www-authenticate", ""
        ):
            # Gotcha 6 / §1.1: a missing or wrong Harvest-Account-Id gets the same invalid_token
            # body as a bad token, so the hint has to name both.
            hint = "The token was refused, or Harvest-Account-Id is missing or not an account this " \
                "token can reach (Harvest answers both with invalid_token). Check " \
                "HARVEST_ACCOUNT_ID against list_accounts(), then the token."
        return AuthenticationError(f"{where} was not authenticated (401){said}", hint=hint, **common)
    if status == 403:
        role = _required_role(method, request.url.path)
        return PermissionDeniedError(
            f"{where} is not allowed for this token's user (403); it needs: {role}",
            hint=f"Use a token of a user with the role: {role}. /v2/users/me works for everyone.",
            required_role=role,
            **common,
        )
    if status == 404:
        if api_message is None and _is_html(response):
            return NotFoundError(
                f"{where}: Harvest has no such route (HTML 404)",
                hint="The URL is malformed, often an empty or wrong id in the path.",
                **common,
            )
        return NotFoundError(
            f"{where}: no such record (404)",
            hint="Check the id; the record may have been deleted.",
            **common,
        )
    if status == 422:
        return UnprocessableError(
            f"{where} was refused (422){said or ': Harvest gave no reason'}",
            hint="Fix the values Harvest names and try again.",
            **common,
        )
    if status == 429:
        wait = f"; Harvest asks to wait {retry_after:g} s" if retry_after is not None else ""
        return RateLimitedError(
            f"{where} was rate limited (429){wait}",
            hint="Harvest allows 100 requests per 15 s per account (reports: 100 per 15 min); "
            "run fewer jobs at once or try again shortly.",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        return ServerError(
            f"{where} failed on Harvest's side ({status}){said}",
            hint="Try again later; check https://www.harveststatus.com if it persists.",
            retry_after=retry_after,
            **common,
        )
    if status == 400:
        return BadRequestError(
            f"{where} was refused as malformed (400){said}",
            hint="Harvest answers 400 when the User-Agent header is missing (gotcha 6); check "
            "HARVEST_USER_AGENT.",
            **common,
        )
    return BadRequestError(f"{where} was refused ({status}){said}", **common)
