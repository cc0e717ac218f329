"""Keeping tokens out of every string the client produces: errors, logs, reprs.

Harvest accepts the token in the query string too (§1, ``?access_token=``), and the OAuth token
endpoint (§5.2) returns tokens in its JSON, so both URLs and bodies are scrubbed by name; on top of
that, any secret the client knows (its token, refresh token, client secret) is replaced wherever it
appears literally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

import httpx

__all__ = ["REDACTED", "SECRET_KEYS", "Redactor", "mask", "redact_url"]

REDACTED = "[REDACTED]"

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

# Very short strings would redact innocent text; real tokens are long.
_MIN_SECRET_LEN = 8
_KEY_VALUE = re.compile(
    r"\b(?P<key>" + "|".join(sorted(SECRET_KEYS)) + r")"
    r"(?P<sep>\"?\s*[:=]\s*\"?)"
    r"(?P<value>(?:bearer\s+)?[^\"&\s,}]+)",
    re.IGNORECASE,
)


def mask(secret: str | None) -> str:
    """How a secret is shown in a repr: never any of its characters."""
    return "None" if secret is None else f"'{REDACTED}'"


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


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_KEYS else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class Redactor:
    """Replaces known secrets and secret-named fields in text the client shows or stores."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET_LEN:
            self._secrets.add(secret)

    def redact_text(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)

    def redact_body(self, text: str) -> str:
        """A response body for an error: JSON re-serialised with secret fields blanked."""
        try:
            data = json.loads(text)
        except ValueError:
            return self.redact_text(text)
        return self.redact_text(json.dumps(_scrub(data), ensure_ascii=False))

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"
