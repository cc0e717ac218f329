"""What the two HTTP clients (thresher.harvest, thresher.greenhouse) do alike: keep secrets out of
the strings they produce, read ``Retry-After``, and read an error answer's body.

Each client stands alone (pyproject.toml, [tool.importlinter]): neither imports the other or any
part above it, so what they share lives here, beside them, and imports nothing from thresher.
Each client keeps its own vocabulary (which keys are secret, how short a secret may be, the
error classes); only the mechanics are here.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx

__all__ = ["REDACTED", "KeyedRedactor", "body_text", "json_object", "mask", "parse_retry_after"]

REDACTED = "[REDACTED]"


def mask(secret: str | None) -> str:
    """How a secret is shown in a repr: never any of its characters."""
    return "None" if secret is None else f"'{REDACTED}'"


def _key_value_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    """``key: value`` / ``key=value`` / ``"key": "value"`` (a ``Bearer`` prefix included) for
    each of ``keys``, any case: the value is what is replaced."""
    return re.compile(
        r"\b(?P<key>" + "|".join(sorted(keys)) + r")(?P<sep>\"?\s*[:=]\s*\"?)"
        r"(?P<value>(?:bearer\s+)?[^\"&\s,}]+)",
        re.IGNORECASE,
    )


def _scrub(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and k.lower() in keys else _scrub(v, keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v, keys) for v in value]
    return value


class KeyedRedactor:
    """Replaces known secrets and the values of secret-named fields in text a client shows or
    stores. A client's ``Redactor`` subclasses it with its ``secret_keys`` and ``min_secret_len``
    (and may scrub more in ``_scrub_more``)."""

    #: JSON keys and ``key=value`` names whose values are always secret (lower case).
    secret_keys: ClassVar[frozenset[str]] = frozenset({"token"})
    #: Shorter strings would redact innocent text; real secrets are longer.
    min_secret_len: ClassVar[int] = 8
    _key_value: ClassVar[re.Pattern[str]] = _key_value_pattern(secret_keys)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._key_value = _key_value_pattern(cls.secret_keys)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= self.min_secret_len:
            self._secrets.add(secret)

    def _scrub_more(self, text: str) -> str:
        return text

    def redact_text(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        text = self._scrub_more(text)
        return self._key_value.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)

    def redact_body(self, text: str) -> str:
        """A response body for an error: JSON re-serialised with secret fields blanked."""
        try:
            data = json.loads(text)
        except ValueError:
            return self.redact_text(text)
        return self.redact_text(json.dumps(_scrub(data, self.secret_keys), ensure_ascii=False))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self._secrets)} secrets>)"


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP-date (RFC 9110
    allows both). None when absent or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None (not JSON, or JSON of another shape)."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def body_text(response: httpx.Response, redactor: KeyedRedactor, *, limit: int = 2000) -> str:
    """An error answer's body for the error: decoded, redacted, cut to ``limit`` characters."""
    text = redactor.redact_body(response.content.decode(response.encoding or "utf-8", errors="replace"))
    return text[:limit] + "...(truncated)" if len(text) > limit else text
