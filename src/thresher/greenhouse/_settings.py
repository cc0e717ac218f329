"""Client configuration: one object, passed in; ``GreenhouseSettings.from_env()`` is the only
place the environment is read (docs/architecture.md, house style 5).

Variables (all ``GREENHOUSE_*``, never ``HARVEST_*``: a different product, docs/greenhouse.md):
``GREENHOUSE_CLIENT_ID``, ``GREENHOUSE_CLIENT_SECRET``, ``GREENHOUSE_SUB`` (the user id tokens
act as), ``GREENHOUSE_ACCESS_TOKEN`` (a ready token instead of client credentials),
``GREENHOUSE_BASE_URL``, ``GREENHOUSE_TOKEN_URL``, ``GREENHOUSE_RATE_LIMIT`` (``75/30s``),
``GREENHOUSE_PER_PAGE``, ``GREENHOUSE_USER_AGENT``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from ._errors import ConfigurationError
from ._redact import mask

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TOKEN_URL",
    "MAX_PER_PAGE",
    "GreenhouseSettings",
    "parse_rate_limit",
]

DEFAULT_BASE_URL = "https://harvest.greenhouse.io/v3"
DEFAULT_TOKEN_URL = "https://auth.greenhouse.io/token"  # noqa: S105 - a URL, not a secret
#: docs/greenhouse.md §3: default 100, at most 500 [secondary].
MAX_PER_PAGE = 500
#: Fewest requests per listing (Greenhouse itself defaults to 100; docs/greenhouse.md §3, "Measured").
DEFAULT_PER_PAGE = MAX_PER_PAGE
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|sec|m|min)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}


def parse_rate_limit(spec: str) -> tuple[int, float]:
    """``"75/30s"`` -> ``(75, 30.0)``."""
    match = _RATE.match(spec)
    if match is None or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise ConfigurationError(
            f"Rate limit {spec!r} is not REQUESTS/WINDOW",
            hint="Write it like 75/30s (Greenhouse counts requests per 30-second window).",
        )
    return int(match.group(1)), float(match.group(2)) * _UNITS[(match.group(3) or "s").lower()]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GreenhouseSettings:
    """Everything the client needs. Either ``client_id`` + ``client_secret`` (the client mints and
    renews tokens, acting as ``sub``) or a ready ``access_token`` (no renewal)."""

    client_id: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    #: The Greenhouse user id tokens act as; user endpoints need a Site Admin. None: the
    #: "Integration Service User" Greenhouse creates for the credential [secondary].
    sub: str | None = None
    access_token: str | None = dataclasses.field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    token_url: str = DEFAULT_TOKEN_URL
    user_agent: str = "thresher (https://github.com/thresher)"
    per_page: int = DEFAULT_PER_PAGE
    timeout: float = 30.0
    #: Requests per window before Greenhouse's ``X-RateLimit-*`` headers say otherwise; 75 is the
    #: docs' example [secondary], the headers of every answer then rule.
    rate_limit: int = 75
    rate_window: float = 30.0
    #: Mint a new token this many seconds before the old one expires (docs/greenhouse.md).
    renew_margin: float = 60.0
    max_in_flight: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ConfigurationError(
                f"per_page {self.per_page} is out of range",
                hint=f"Greenhouse pages hold 1 to {MAX_PER_PAGE} records.",
            )
        if self.rate_limit < 1 or self.rate_window <= 0 or self.max_in_flight < 1:
            raise ConfigurationError("rate_limit, rate_window and max_in_flight must be positive")
        for name in ("base_url", "token_url"):
            value = getattr(self, name)
            if not value.startswith(("https://", "http://")):
                raise ConfigurationError(
                    f"{name} {value!r} is not an http(s) URL",
                    hint=f"Use e.g. {DEFAULT_BASE_URL if name == 'base_url' else DEFAULT_TOKEN_URL}.",
                )
            object.__setattr__(self, name, value.rstrip("/"))
        if self.sub is not None:
            object.__setattr__(self, "sub", str(self.sub).strip() or None)

    def __repr__(self) -> str:
        return (
            f"GreenhouseSettings(client_id={self.client_id!r}, client_secret="
            f"{mask(self.client_secret)}, sub={self.sub!r}, access_token={mask(self.access_token)}, "
            f"base_url={self.base_url!r}, token_url={self.token_url!r}, per_page={self.per_page})"
        )

    @property
    def has_client_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> GreenhouseSettings:
        """Settings from ``GREENHOUSE_*`` variables; keyword overrides that are not None win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, var in (
            ("client_id", "GREENHOUSE_CLIENT_ID"),
            ("client_secret", "GREENHOUSE_CLIENT_SECRET"),
            ("sub", "GREENHOUSE_SUB"),
            ("access_token", "GREENHOUSE_ACCESS_TOKEN"),
            ("base_url", "GREENHOUSE_BASE_URL"),
            ("token_url", "GREENHOUSE_TOKEN_URL"),
            ("user_agent", "GREENHOUSE_USER_AGENT"),
        ):
            if env.get(var):
                values[field] = env[var].strip()
        if env.get("GREENHOUSE_RATE_LIMIT"):
            values["rate_limit"], values["rate_window"] = parse_rate_limit(env["GREENHOUSE_RATE_LIMIT"])
        if env.get("GREENHOUSE_PER_PAGE"):
            try:
                values["per_page"] = int(env["GREENHOUSE_PER_PAGE"])
            except ValueError:
                raise ConfigurationError(
                    "GREENHOUSE_PER_PAGE is not a number", hint=f"Use 1 to {MAX_PER_PAGE}."
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
