"""Keeping the client secret and bearer tokens out of every string the client produces.

The token endpoint answers with the access token in its JSON and, for a malformed client id,
echoes the id back (docs/greenhouse.md, "The sandbox"); error bodies are therefore scrubbed by
key name and every secret the client knows is replaced wherever it appears literally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "Redactor", "mask"]

REDACTED = "[REDACTED]"
_SECRET_KEYS = frozenset({"access_token", "client_secret", "token", "authorization", "password"})
# Short strings would redact innocent text (a client id may be short; it is added only when the
# token endpoint may echo it).
_MIN_LEN = 6
_KEY_VALUE = re.compile(
    r"\b(?P<key>" + "|".join(sorted(_SECRET_KEYS)) + r")(?P<sep>\"?\s*[:=]\s*\"?)"
    r"(?P<value>(?:bearer\s+)?[^\"&\s,}]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def mask(secret: str | None) -> str:
    """How a secret appears in a repr: never any of its characters."""
    return "None" if secret is None else f"'{REDACTED}'"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and k.lower() in _SECRET_KEYS else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class Redactor:
    """Replaces known secrets, secret-named fields and credentials after ``Bearer``/``Basic``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = {s for s in secrets if s and len(s) >= _MIN_LEN}

    def redact_text(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)

    def redact_body(self, text: str) -> str:
        try:
            data = json.loads(text)
        except ValueError:
            return self.redact_text(text)
        return self.redact_text(json.dumps(_scrub(data), ensure_ascii=False))

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"
