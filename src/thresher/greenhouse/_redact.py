"""Keeping the client secret and bearer tokens out of every string the client produces.

The token endpoint answers with the access token in its JSON and, for a malformed client id,
echoes the id back (docs/greenhouse.md, "The sandbox"); error bodies are therefore scrubbed by
key name and every secret the client knows is replaced wherever it appears literally. The
mechanics are shared with the Harvest client (``thresher._http_common``).
"""

from __future__ import annotations

import re

from .._http_common import REDACTED, KeyedRedactor, mask

__all__ = ["REDACTED", "Redactor", "mask"]

_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


class Redactor(KeyedRedactor):
    """Replaces known secrets, secret-named fields and credentials after ``Bearer``/``Basic``."""

    secret_keys = frozenset({"access_token", "client_secret", "token", "authorization", "password"})
    # Short strings would redact innocent text (a client id may be short; it is added only when
    # the token endpoint may echo it).
    min_secret_len = 6

    def _scrub_more(self, text: str) -> str:
        return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
