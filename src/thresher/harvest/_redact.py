"""Keeping tokens out of every string the client produces: errors, logs, reprs.

Harvest accepts the token in the query string too (§1, ``?access_token=``), and the OAuth token
endpoint (§5.2) returns tokens in its JSON, so both URLs and bodies are scrubbed by name; on top of
that, any secret the client knows (its token, refresh token, client secret) is replaced wherever it
appears literally. The mechanics are shared with the Greenhouse client (``thresher._http_common``).
"""

from __future__ import annotations

from urllib.parse import unquote_plus

import httpx

from .._http_common import REDACTED, KeyedRedactor, mask

__all__ = ["REDACTED", "SECRET_KEYS", "Redactor", "mask", "redact_url"]

#: JSON keys (and query parameters) whose values are always secret.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "id_token",
        "token",
        "password",
        "authorization",
    }
)
# In a URL ``code`` is an OAuth authorization code (§5.2); in a body it is a project code.
_SECRET_PARAMS = SECRET_KEYS | {"code"}


def redact_url(url: str | httpx.URL) -> str:
    """The URL with the values of secret query parameters replaced (others kept byte for byte)."""
    text = str(url)
    base, sep, query = text.partition("?")
    if not sep:
        return text
    query, hash_, fragment = query.partition("#")
    parts = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        secret = eq and unquote_plus(key).lower() in _SECRET_PARAMS
        parts.append(f"{key}={REDACTED}" if secret else part)
    return f"{base}?{'&'.join(parts)}{hash_}{fragment}"


class Redactor(KeyedRedactor):
    """Replaces known secrets and secret-named fields in text the client shows or stores."""

    secret_keys = SECRET_KEYS
    # Very short strings would redact innocent text; real tokens are long.
    min_secret_len = 8
