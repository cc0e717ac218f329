"""Bearer tokens of the SCIM bridge: shown once, stored as a salted digest, counted per status.

A token reads ``thscim_<key>_<secret>``. ``key`` is public and finds the row; the secret is kept
only as HMAC-SHA256(salt, secret) with a per-token random salt, and compared in constant time.
The secret has 256 bits of entropy, so a slow password hash would add latency and no safety.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
import threading
import time
from collections import Counter

from thresher.store import DuplicateScimTokenError, ScimTokens, Store, StoredScimToken

from ._errors import TokenError

__all__ = ["PREFIX", "ScimToken", "TokenError", "TokenStore"]

PREFIX = "thscim_"
_KEY = re.compile(r"[0-9a-f]{12}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def _token(row: StoredScimToken, counts: dict[int, int] | None = None) -> ScimToken:
    return ScimToken(
        id=row.id,
        name=row.name,
        key=row.key,
        allowed_cidrs=list(row.allowed_cidrs),
        read_only=row.read_only,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        counts=counts or {},
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ScimToken:
    """A token as listed: never its secret (the store does not have it)."""

    id: int
    name: str
    key: str
    allowed_cidrs: list[str]
    read_only: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    counts: dict[int, int] = dataclasses.field(default_factory=dict)

    def allows(self, address: str | None) -> bool:
        """Whether a client address may use the token (any address when no CIDR is set)."""
        if not self.allowed_cidrs:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_cidrs)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "key": self.key,
            "allowed_cidrs": list(self.allowed_cidrs),
            "read_only": self.read_only,
            "created_at": self.created_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "requests": {str(status): n for status, n in sorted(self.counts.items())},
        }


class TokenStore:
    """Create, list, revoke and check tokens; request counts are buffered, then flushed."""

    def __init__(self, store: Store, *, cache_seconds: float = 0.0) -> None:
        self.store = store
        self._tokens = ScimTokens(store)
        #: A checked token is trusted this long without reading the database again. The default,
        #: 0, reads the token's row (one lookup by its unique key) on every request, so a
        #: revocation, from this process or from ``thresher scim token revoke`` in another,
        #: refuses the very next request. A positive value saves that read and lets another
        #: process's revocation wait up to that long.
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ScimToken]] = {}
        #: Checked tokens by digest, with the store's change marker when checked (see
        #: :meth:`authenticate`).
        self._checked: dict[str, tuple[int, ScimToken]] = {}
        self._pending: Counter[tuple[int, int]] = Counter()
        self._used: dict[int, dt.datetime] = {}
        self._lock = threading.Lock()

    # -- commands --------------------------------------------------------------------------

    def create(
        self, name: str, *, allowed_cidrs: list[str] | None = None, read_only: bool = False
    ) -> tuple[ScimToken, str]:
        """A new token and its full secret value (the only time it is available)."""
        cidrs = []
        for cidr in allowed_cidrs or []:
            try:
                cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError as exc:
                raise TokenError(f"{cidr!r} is not an IP network (e.g. 10.0.0.0/8)") from exc
        key = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        try:
            self._tokens.add(
                name=name,
                key=key,
                salt=salt,
                digest=_digest(salt, secret),
                allowed_cidrs=cidrs,
                read_only=read_only,
                created_at=_now(),
            )
        except DuplicateScimTokenError as exc:
            raise TokenError(f"a token named {name!r} exists already") from exc
        token = self._by_name(name)
        assert token is not None
        return token, f"{PREFIX}{key}_{secret}"

    def _by_name(self, name: str) -> ScimToken | None:
        return next((t for t in self.list_tokens(include_revoked=True) if t.name == name), None)

    def list_tokens(self, *, include_revoked: bool = False) -> list[ScimToken]:
        self.flush()
        counts = self._tokens.request_counts()
        tokens = self._tokens.list_tokens(include_revoked=include_revoked)
        return [_token(row, counts.get(row.id, {})) for row in tokens]

    def revoke(self, name: str) -> ScimToken:
        revoked = self._tokens.revoke(name, revoked_at=_now())
        self._cache.clear()
        self._checked.clear()
        if not revoked:
            raise TokenError(f"no active token named {name!r}")
        token = self._by_name(name)
        assert token is not None
        return token

    # -- requests --------------------------------------------------------------------------

    def authenticate(self, presented: str) -> ScimToken | None:
        """The live token a bearer value belongs to, or None."""
        if not presented.startswith(PREFIX):
            return None
        # Keyed by a digest, so the cache never holds a secret.
        cache_key = hashlib.sha256(presented.encode()).hexdigest()
        if self.cache_seconds <= 0:
            return self._authenticate_unchanged(cache_key, presented)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        token = self._authenticate(presented)
        if token is not None:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[cache_key] = (time.monotonic() + self.cache_seconds, token)
        return token

    def _authenticate_unchanged(self, cache_key: str, presented: str) -> ScimToken | None:
        """The token, read again only when the database changed since it was last checked
        (``ScimTokens.change_marker``: SQLite files), so a revocation from any process still
        refuses the very next request, and a lookup costs no token query in between."""
        marker = self._tokens.change_marker()  # before the row: a later revocation moves it
        if marker is None:
            return self._authenticate(presented)
        checked = self._checked.get(cache_key)
        if checked is not None and checked[0] == marker:
            return checked[1]
        token = self._authenticate(presented)
        if token is not None:
            if len(self._checked) > 1000:
                self._checked.clear()
            self._checked[cache_key] = (marker, token)
        return token

    def _authenticate(self, presented: str) -> ScimToken | None:
        key, sep, secret = presented.removeprefix(PREFIX).partition("_")
        if not sep or not secret:
            return None
        # Keys are 12 hex digits (``create``): anything else is not looked up at all.
        row = self._tokens.by_key(key) if _KEY.fullmatch(key) else None
        if row is None:
            # Spend the same work as a real comparison, so timing does not tell keys apart.
            hmac.compare_digest(_digest("00" * 16, secret), "0" * 64)
            return None
        if not hmac.compare_digest(_digest(row.salt, secret), row.digest) or row.revoked_at:
            return None
        return _token(row)

    def count(self, token_id: int, status: int) -> None:
        """Count one answered request (kept in memory until :meth:`flush`)."""
        with self._lock:
            self._pending[(token_id, status)] += 1
            self._used[token_id] = _now()

    def flush(self) -> None:
        """Add the buffered counts to the database."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            used, self._used = self._used, {}
        if not pending:
            return
        self._tokens.add_requests(pending, used)
