"""Every exception of the Greenhouse client, grouped by what the caller should do
(docs/architecture.md, house style 2), and the classification of error answers by their body.

======================  =====================================================================
Group                   Members
======================  =====================================================================
``CredentialsError``    fix the credential or the user it acts as: ``AuthenticationError``
                        (401) with ``TokenExpiredError`` and ``InvalidClientError`` (wrong or
                        revoked client id/secret), ``PermissionDeniedError`` (403) with
                        ``MissingScopeError`` and ``NotSiteAdminError``
``InputError``          fix the input or the configuration: ``ConfigurationError``,
                        ``InvalidRequestError`` (refused before sending), ``BadRequestError``,
                        ``NotFoundError``, ``UnprocessableError`` (422)
``RetryableError``      retry later: ``RateLimitedError`` (429), ``ServerError`` (5xx),
                        ``TransportError`` (no HTTP answer)
``UnrecoverableError``  give up and look: ``AmbiguousCreateError``, ``PaginationError``,
                        ``UnexpectedResponseError``
======================  =====================================================================

Greenhouse has no single error envelope (docs/greenhouse.md §1, "The errors, and what to do"):
API errors carry ``message`` plus ``errors`` (strings or ``{message, field}``), the token endpoint OAuth's
``error``/``error_description`` or ``message``/``errorId``. ``parse_error_body`` reads all of them.
"""

from __future__ import annotations

from typing import Any

import httpx

from .._errors import ThresherError
from .._http_common import body_text, json_object
from ._redact import Redactor
from ._scopes import required_scope

__all__ = [
    "AmbiguousCreateError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "CredentialsError",
    "GreenhouseError",
    "InputError",
    "InvalidClientError",
    "InvalidRequestError",
    "MissingScopeError",
    "NotFoundError",
    "NotSiteAdminError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryableError",
    "ServerError",
    "TokenExpiredError",
    "TransportError",
    "UnexpectedResponseError",
    "UnprocessableError",
    "UnrecoverableError",
    "error_from_response",
    "parse_error_body",
]

_BODY_LIMIT = 2000
CREDENTIALS_PAGE = "Greenhouse → Configure → Dev Center → API Credentials"


class GreenhouseError(ThresherError):
    """Base of every Greenhouse client error; HTTP ones carry ``method``, ``url``,
    ``status_code``, ``body`` (redacted, truncated) and ``api_message`` (Greenhouse's words)."""

    method: str | None = None
    url: str | None = None
    status_code: int | None = None
    body: str | None = None
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
        self.url = url
        self.status_code = status_code
        self.body = body
        self.api_message = api_message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status_code={self.status_code!r})"


# --- fix the credential --------------------------------------------------------------------------
class CredentialsError(GreenhouseError):
    """The credential, its token or the user it acts as (``sub``) is not good enough."""

    exit_code = 77  # sysexits EX_NOPERM


class AuthenticationError(CredentialsError):
    """401: no valid token."""


class TokenExpiredError(AuthenticationError):
    """The access token outlived its hour. Raised only when the client cannot mint a new one
    itself (a fixed ``access_token``), or a token it just minted is already refused as expired."""


class InvalidClientError(AuthenticationError):
    """The token endpoint refused the client id and secret (``invalid_client``): they are wrong,
    or the credential was revoked (tokens minted before the revocation stop working too)."""


class PermissionDeniedError(CredentialsError):
    """403 that names neither a scope nor the Site Admin rule."""

    required_scope: str | None = None

    def __init__(self, message: str, *, required_scope: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required_scope = required_scope


class MissingScopeError(PermissionDeniedError):
    """403: the credential lacks the scope the endpoint needs (``required_scope``)."""


class NotSiteAdminError(PermissionDeniedError):
    """403: the user the token acts as (``sub``) is not a Site Admin, which user endpoints need."""


# --- fix input -----------------------------------------------------------------------------------
class InputError(GreenhouseError):
    """The request or the configuration is wrong: change it before trying again."""

    exit_code = 65  # sysexits EX_DATAERR


class ConfigurationError(InputError):
    """Settings cannot work: no credentials, an unusable URL or page size."""

    exit_code = 78  # sysexits EX_CONFIG


class InvalidRequestError(InputError):
    """Refused client-side before anything was sent."""


class BadRequestError(InputError):
    """400 or another 4xx without its own class (the token endpoint's ``invalid_request``...)."""


class NotFoundError(InputError):
    """404: no such record, or (on a documented path) the route is gone."""


class UnprocessableError(InputError):
    """422: Greenhouse refused the values (``errors`` names the fields)."""


# --- retry later ---------------------------------------------------------------------------------
class RetryableError(GreenhouseError):
    """A temporary condition: the same request may succeed later."""

    exit_code = 75  # sysexits EX_TEMPFAIL


class RateLimitedError(RetryableError):
    """429 after the retries were spent; ``retry_after`` in seconds when Greenhouse sent one."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """5xx from Greenhouse."""


class TransportError(RetryableError):
    """No HTTP answer. ``request_sent`` is False only when the request surely never left."""

    request_sent: bool = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


# --- give up -------------------------------------------------------------------------------------
class UnrecoverableError(GreenhouseError):
    """Retrying the same call will not help; someone must look."""

    exit_code = 1


class AmbiguousCreateError(UnrecoverableError):
    """A create was sent but no clear answer came back: it may or may not exist now."""


class PaginationError(UnrecoverableError):
    """The ``Link: rel="next"`` header repeated a cursor or pointed away from the API."""


class UnexpectedResponseError(UnrecoverableError):
    """A success status with a body the client cannot read as the documented shape."""


# --- response -> error ---------------------------------------------------------------------------
def parse_error_body(response: httpx.Response) -> str | None:
    """Greenhouse's words from an error body: ``message`` and each of ``errors`` (strings or
    ``{message, field}``), else OAuth's ``error_description`` or ``error``; None without JSON."""
    data = json_object(response)
    if data is None:
        return None
    parts: list[str] = []
    message = data.get("message")
    if isinstance(message, str) and message:
        parts.append(message)
    errors = data.get("errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, str) and item:
            parts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("message"), str):
            field = item.get("field")
            parts.append(f"{field}: {item['message']}" if isinstance(field, str) else item["message"])
    if not parts:
        for key in ("error_description", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                parts.append(value)
                break
    return "; ".join(parts) or None


def error_from_response(
    response: httpx.Response,
    *,
    redactor: Redactor | None = None,
    retry_after: float | None = None,
    api_prefix: str = "/v3",
) -> GreenhouseError:
    """The error for a non-2xx API answer, classified by status and then by body."""
    redactor = redactor or Redactor()
    request = response.request
    method, path = request.method, request.url.path
    status = response.status_code
    said_raw = parse_error_body(response)
    api_message = redactor.redact_text(said_raw) if said_raw else None
    common: dict[str, Any] = {
        "method": method,
        "url": redactor.redact_text(str(request.url.copy_with(query=None))),
        "status_code": status,
        "body": body_text(response, redactor, limit=_BODY_LIMIT),
        "api_message": api_message,
    }
    where = f"{method} {path}"
    said = f": {api_message}" if api_message else ""
    words = (api_message or "").lower()

    if status == 401:
        if "expired" in words:
            return TokenExpiredError(
                f"{where} was refused: the access token has expired (401)",
                hint="Tokens last one hour. Configure GREENHOUSE_CLIENT_ID and "
                "GREENHOUSE_CLIENT_SECRET so thresher mints new ones; if this follows a fresh "
                "token, check this machine's clock.",
                **common,
            )
        if "revoked" in words:
            return InvalidClientError(
                f"{where} was refused: the API credential was revoked (401)",
                hint=f"Create a new Harvest V3 (OAuth) credential in {CREDENTIALS_PAGE} and "
                "store its client id and secret.",
                **common,
            )
        return AuthenticationError(
            f"{where} was not authenticated (401){said}",
            hint="The bearer token was refused; check GREENHOUSE_CLIENT_ID/GREENHOUSE_CLIENT_SECRET "
            "(thresher then mints its own tokens) or the token you set.",
            **common,
        )
    if status == 403:
        rest = path.removeprefix(api_prefix) if path.startswith(api_prefix) else path
        scope = required_scope(method, rest)
        if "scope" in words:
            wanted = scope or "the scope this endpoint needs"
            return MissingScopeError(
                f"{where} needs the scope {wanted}, which this credential lacks (403)",
                hint=f"Add {wanted} to the credential in {CREDENTIALS_PAGE} → Manage Scopes.",
                required_scope=scope,
                **common,
            )
        if "site admin" in words or "site_admin" in words:
            return NotSiteAdminError(
                f"{where} was refused: the user this token acts as (sub) is not a Site Admin (403)",
                hint="Set GREENHOUSE_SUB (--sub) to the Greenhouse user id of a Site Admin; user "
                "endpoints act with that user's rights.",
                required_scope=scope,
                **common,
            )
        needs = f" (this endpoint needs the scope {scope})" if scope else ""
        return PermissionDeniedError(
            f"{where} was forbidden (403){said}",
            hint=f"Check the credential's scopes{needs} in {CREDENTIALS_PAGE}, and that "
            "GREENHOUSE_SUB is a Site Admin.",
            required_scope=scope,
            **common,
        )
    if status == 404:
        return NotFoundError(
            f"{where}: not found (404){said}",
            hint="Check the id; on a documented path a 404 means the route is gone (v1/v2 "
            "routes were retired on 2026-08-31).",
            **common,
        )
    if status == 422:
        return UnprocessableError(
            f"{where} was refused (422){said or ': Greenhouse gave no reason'}",
            hint="Fix the values Greenhouse names and try again.",
            **common,
        )
    if status == 429:
        wait = f"; Greenhouse asks to wait {retry_after:g} s" if retry_after is not None else ""
        return RateLimitedError(
            f"{where} was rate limited (429){wait}",
            hint="Greenhouse counts requests per 30-second window (X-RateLimit-Limit); run fewer "
            "jobs at once or try again shortly.",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        return ServerError(
            f"{where} failed on Greenhouse's side ({status}){said}",
            hint="Try again later; check https://status.greenhouse.io if it persists.",
            **common,
        )
    if status == 410:
        return NotFoundError(
            f"{where}: gone (410){said}",
            hint="v1/v2 routes were retired on 2026-08-31; use the v3 endpoints.",
            **common,
        )
    return BadRequestError(f"{where} was refused ({status}){said}", **common)
