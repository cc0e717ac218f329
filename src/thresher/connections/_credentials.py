"""Credentials at rest: a Fernet-encrypted blob in ``connections.credentials_ref``.

The key comes from ``THRESHER_SECRET_KEY`` (a Fernet key, or any passphrase, which is stretched
into one) or from a key file created once with mode 0600 in the user's config folder. The blob
holds the token(s), the OAuth client (to refresh) and the token owner's user id; nothing in it is
ever printed: reprs mask every secret.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from cryptography.fernet import Fernet, InvalidToken

from thresher.harvest import OAuth2Token

from ._errors import CredentialsKeyError

__all__ = [
    "BLOB_PREFIX",
    "Credentials",
    "SecretBox",
    "default_key_path",
]

#: Marks an encrypted blob (and its format version) in ``credentials_ref``.
BLOB_PREFIX = "fernet:v1:"
KEY_ENV = "THRESHER_SECRET_KEY"


def default_key_path() -> Path:
    """``<user config dir>/thresher/secret.key`` (honours ``XDG_CONFIG_HOME`` on Linux)."""
    return Path(platformdirs.user_config_dir("thresher")) / "secret.key"


def _key_from_passphrase(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
        if len(raw) == 32:
            return value.encode()
    except (ValueError, TypeError):
        pass
    # Not a Fernet key: derive one, so any long random string works as THRESHER_SECRET_KEY.
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest())


def _load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    # O_EXCL: two processes racing to create the key must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    os.chmod(path, 0o600)  # the umask may have narrowed it further, never widened: make it exact
    return key


class SecretBox:
    """Encrypts and decrypts credential blobs with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretBox(key=***)"

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, *, key_path: Path | None = None
    ) -> SecretBox:
        env = os.environ if environ is None else environ
        secret = env.get(KEY_ENV, "").strip()
        if secret:
            return cls(_key_from_passphrase(secret))
        return cls(_load_or_create_key_file(key_path or default_key_path()))

    def seal(self, credentials: Credentials) -> str:
        return BLOB_PREFIX + self._fernet.encrypt(credentials.to_json().encode()).decode()

    def open(self, blob: str) -> Credentials:
        if not blob.startswith(BLOB_PREFIX):
            raise CredentialsKeyError(
                "the stored credentials are not in a format this version understands",
                hint="Run 'thresher login' again for this connection.",
            )
        try:
            data = self._fernet.decrypt(blob[len(BLOB_PREFIX):].encode())
        except InvalidToken:
            raise CredentialsKeyError(
                "the stored credentials cannot be decrypted with this secret key",
                hint=f"Use the {KEY_ENV} (or key file) they were saved with, or run "
                "'thresher login' again.",
            ) from None
        return Credentials.from_json(data.decode())


def _mask(value: str | None) -> str:
    return "None" if value is None else "'***'"


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a saved connection needs to reach Harvest."""

    kind: Literal["pat", "oauth"]
    access_token: str = dataclasses.field(repr=False)
    user_agent: str
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None
    client_id: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    #: The token owner's Harvest user id (never offboarded or pruned by its own token).
    user_id: int | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"Credentials(kind={self.kind!r}, access_token={_mask(self.access_token)}, "
            f"refresh_token={_mask(self.refresh_token)}, client_id={self.client_id!r}, "
            f"client_secret={_mask(self.client_secret)}, user_id={self.user_id!r})"
        )

    __str__ = __repr__

    @property
    def oauth_token(self) -> OAuth2Token:
        return OAuth2Token(
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            expires_at=self.expires_at,
            scope=self.scope,
        )

    def with_token(self, token: OAuth2Token) -> Credentials:
        return dataclasses.replace(
            self,
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=token.expires_at,
            scope=token.scope or self.scope,
        )

    def to_json(self) -> str:
        data: dict[str, Any] = dataclasses.asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Credentials:
        data = json.loads(text)
        if data.get("expires_at"):
            data["expires_at"] = dt.datetime.fromisoformat(data["expires_at"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
