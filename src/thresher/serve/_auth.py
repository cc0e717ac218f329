"""Who may use the dashboard and the status API.

- Admins sign in with a password (``thresher admin create``), kept as an argon2id hash.
- A sign-in opens a session: a random value in an HttpOnly cookie; the store keeps only its
  SHA-256, so a copy of the database opens no session.
- Every form carries a CSRF token derived from the session value (HMAC), checked with
  ``hmac.compare_digest`` on every POST; the login form uses a double-submit cookie instead,
  since there is no session yet.
- The status API takes bearer tokens (``thresher admin token create``): ``thadm_<key>_<secret>``,
  stored as a salted HMAC-SHA256 digest like the SCIM bridge's tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from thresher.store import InvalidArgumentError, ServeRecords, StoredAdmin, StoredAdminToken

from ._errors import AdminError

__all__ = ["TOKEN_PREFIX", "AdminAuth", "csrf_token", "digest"]

TOKEN_PREFIX = "thadm_"  # noqa: S105 - the public prefix of every token, not a secret
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token(session_value: str) -> str:
    """The CSRF token of a session: an HMAC of a constant keyed by the session's secret value."""
    return hmac.new(session_value.encode(), b"thresher-csrf", hashlib.sha256).hexdigest()


def _token_digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


class AdminAuth:
    """Admins, sessions and API tokens on one store."""

    def __init__(self, records: ServeRecords, *, session_hours: float = 12.0) -> None:
        self.records = records
        self.session_lifetime = dt.timedelta(hours=session_hours)
        self._token_cache: dict[str, tuple[float, StoredAdminToken]] = {}
        self._lock = threading.Lock()

    # -- admins ------------------------------------------------------------------------------

    def create_admin(self, username: str, password: str) -> StoredAdmin:
        username = username.strip()
        if not username:
            raise AdminError("an admin needs a username", hint="Pass --username NAME.")
        self._check_password(password)
        try:
            return self.records.add_admin(username, _HASHER.hash(password), created_at=_now())
        except InvalidArgumentError as exc:
            raise AdminError(str(exc), hint="Pick another --username, or use --reset.") from None

    def set_password(self, username: str, password: str) -> None:
        self._check_password(password)
        if not self.records.set_admin_password(username, _HASHER.hash(password)):
            raise AdminError(f"there is no admin named {username!r}", hint="See 'thresher admin list'.")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AdminError(
                f"the password is shorter than {MIN_PASSWORD} characters",
                hint="Use a longer one, e.g. four random words.",
            )

    def verify(self, username: str, password: str) -> StoredAdmin | None:
        """The admin whose name and password these are (and who is not disabled), else None."""
        admin = self.records.admin_by_username(username.strip())
        try:
            _HASHER.verify(admin.password_hash if admin else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if admin is None or admin.disabled_at is not None:
            return None
        return admin

    def one_time_admin(self) -> tuple[str, str]:
        """An admin with a random name and password, for the demo (shown once)."""
        username = f"demo-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(15)
        self.create_admin(username, password)
        return username, password

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, admin: StoredAdmin) -> str:
        """A new session's secret value (for the cookie only)."""
        value = secrets.token_urlsafe(32)
        now = _now()
        self.records.add_session(
            digest(value), admin.id, created_at=now, expires_at=now + self.session_lifetime
        )
        return value

    def session_admin(self, value: str | None) -> StoredAdmin | None:
        if not value:
            return None
        return self.records.session_admin(digest(value), now=_now())

    def end_session(self, value: str | None) -> None:
        if value:
            self.records.end_session(digest(value))

    @staticmethod
    def csrf_ok(session_value: str | None, presented: str | None) -> bool:
        if not session_value or not presented:
            return False
        return hmac.compare_digest(csrf_token(session_value), presented)

    # -- API tokens --------------------------------------------------------------------------

    def create_token(self, name: str) -> tuple[StoredAdminToken, str]:
        """A new token and its secret value (the only time it is available)."""
        name = name.strip()
        if not name:
            raise AdminError("a token needs a name", hint="Pass --name, e.g. --name grafana.")
        key, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(24), secrets.token_hex(16)
        try:
            token = self.records.add_token(
                name=name, key=key, salt=salt, digest=_token_digest(salt, secret), created_at=_now()
            )
        except InvalidArgumentError as exc:
            raise AdminError(str(exc), hint="Pick another --name, or revoke the old token.") from None
        return token, f"{TOKEN_PREFIX}{key}_{secret}"

    def revoke_token(self, name: str) -> None:
        if not self.records.revoke_token(name, revoked_at=_now()):
            raise AdminError(f"there is no live API token named {name!r}",
                             hint="See 'thresher admin token list'.")
        with self._lock:
            self._token_cache.clear()

    def authenticate(self, presented: str) -> StoredAdminToken | None:
        """The live token a bearer value belongs to, or None (cached 5 s by a digest of it)."""
        if not presented.startswith(TOKEN_PREFIX):
            return None
        cache_key = digest(presented)
        with self._lock:
            cached = self._token_cache.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        key, sep, secret = presented.removeprefix(TOKEN_PREFIX).partition("_")
        if not sep:
            return None
        row = self.records.token_by_key(key)
        expected = row.digest if row else "0" * 64
        ok = hmac.compare_digest(_token_digest(row.salt if row else "00" * 16, secret), expected)
        if row is None or not ok or row.revoked_at is not None:
            return None
        with self._lock:
            self._token_cache[cache_key] = (time.monotonic() + 5.0, row)
        return row
