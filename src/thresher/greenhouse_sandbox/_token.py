"""``POST /token`` (auth.greenhouse.io): OAuth client credentials with ``sub``
(docs/greenhouse.md §1), and the answers the fact sheet records for each refusal."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import re
import secrets
from typing import Any

import orjson
from starlette.responses import Response

from ._http import answer
from ._sandbox import SandboxCore
from ._state import Token, token_key

__all__ = ["mint_token"]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.-]{4,80}$")


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


def mint_token(sandbox: SandboxCore, authorization: str | None, form: dict[str, str]) -> Response:
    """``POST /token``: Basic client credentials, ``grant_type=client_credentials``, ``sub``."""
    state, config = sandbox.state, sandbox.config
    pair = _basic(authorization)
    if pair is None:
        return answer({"message": "Unauthorized", "errorId": f"err-{secrets.token_hex(6)}"}, 401)
    client_id, secret = pair
    if not _CLIENT_ID.match(client_id):
        # Greenhouse echoes the malformed id (docs/greenhouse.md, "The sandbox"): clients scrub it.
        return answer(
            {"error": "invalid_request", "error_description": f"Invalid client_id: {client_id}"}, 400
        )
    credential = state.credentials.get(client_id)
    if (
        credential is None
        or credential.revoked
        or not hmac.compare_digest(credential.client_secret.encode(), secret.encode())
    ):
        return answer({"error": "invalid_client"}, 401)
    if form.get("grant_type") != "client_credentials":
        return answer({"error": "unsupported_grant_type"}, 400)
    sub_text = form.get("sub")
    if sub_text is None or not sub_text.strip():
        sub = state.service_id  # the credential's Integration Service User [secondary]
    else:
        user = state.users.get(int(sub_text)) if sub_text.strip().isdigit() else None
        if user is None or user.deactivated:
            return answer(
                {"error": "invalid_request", "error_description": "sub must be the id of an active user"}, 400
            )
        sub = user.id
    value = _jwt_like(sub)
    now = sandbox.now()
    expires = now + config.token_ttl_seconds
    state.tokens[token_key(value)] = Token(client_id, sub, expires)
    body: dict[str, Any] = {"access_token": value, "token_type": "Bearer"}
    if config.expiry_field == "expires_in":
        body["expires_in"] = int(config.token_ttl_seconds)
    elif config.expiry_field == "expires_at":
        body["expires_at"] = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        body["expires"] = int(config.token_ttl_seconds)
    return answer(body)


def _jwt_like(sub: int) -> str:
    """Looks like a JWT (clients must treat it as opaque); the sandbox looks it up, signs nothing."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return (
        f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': str(sub), 'jti': secrets.token_hex(8)})}."
        f"{secrets.token_urlsafe(24)}"
    )
