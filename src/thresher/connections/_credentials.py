"""Credentials at rest: a Fernet-encrypted blob in ``connections.credentials_ref``.

The key comes from ``THRESHER_SECRET_KEY`` (a Fernet key, or any passphrase, which is stretched
into one with scrypt and a random salt) or from a key file created once with mode 0600 in the
user's config folder. The blob holds the token(s), the OAuth client (to refresh) and the token
owner's user id; nothing in it is ever printed: reprs mask every secret.

Blob formats (the part before the Fernet token says how its key was made):

* ``fernet:v2:key:<token>``: the Fernet key itself (key file, or a Fernet key in the variable);
* ``fernet:v2:scrypt:<salt>:<token>``: scrypt(passphrase, salt), n=2**15, r=8, p=1;
* ``fernet:v1:<token>``: written by earlier versions, a passphrase stretched by one unsalted
  SHA-256. Still read; ``SecretBox.outdated`` tells callers to save such a blob again.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Literal

import platformdirs
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from thresher.harvest import OAuth2Token

from ._errors import CredentialsKeyError

__all__ = [
    "BLOB_PREFIX",
    "Credentials",
    "SecretBox",
    "default_key_path",
]

#: Marks an encrypted blob in the format this version writes (``credentials_ref``).
BLOB_PREFIX = "fernet:v2:"
#: The format of earlier versions: still read, rewritten when saved again.
LEGACY_PREFIX = "fernet:v1:"
KEY_ENV = "THRESHER_SECRET_KEY"

_RAW = "key:"
_SCRYPT = "scrypt:"
# scrypt's cost is the point (a stolen store must not make passphrases cheap to guess): about
# 0.1-0.2 s and 32 MiB per derivation, paid once per salt per process (see _derived).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SALT_BYTES = 16

_derived_keys: dict[tuple[bytes, bytes], bytes] = {}
_sealing_salts: dict[bytes, bytes] = {}
_cache_lock = threading.Lock()


def default_key_path() -> Path:
    """``<user config dir>/thresher/secret.key`` (honours ``XDG_CONFIG_HOME`` on Linux)."""
    return Path(platformdirs.user_config_dir("thresher")) / "secret.key"


def _as_fernet_key(value: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, TypeError):
        return None
    return value.encode() if len(raw) == 32 else None


def _legacy_key(passphrase: str) -> bytes:
    # The unsalted form of earlier versions: only ever used to read their blobs.
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def _derived(passphrase: str, salt: bytes) -> bytes:
    """scrypt(passphrase, salt) as a Fernet key, computed once per (passphrase, salt) per process."""
    ident = (hashlib.sha256(passphrase.encode()).digest(), salt)
    with _cache_lock:
        key = _derived_keys.get(ident)
    if key is None:
        kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
        key = base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))
        with _cache_lock:
            _derived_keys[ident] = key
    return key


def _sealing_salt(passphrase: str) -> bytes:
    """One random salt per passphrase per process: every blob this process seals carries it, so
    sealing costs one derivation in all (each blob still names its own salt)."""
    ident = hashlib.sha256(passphrase.encode()).digest()
    with _cache_lock:
        return _sealing_salts.setdefault(ident, secrets.token_bytes(_SALT_BYTES))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    """Encrypts and decrypts credential blobs with one key: a Fernet key, or a passphrase."""

    def __init__(self, key: bytes | None = None, *, passphrase: str | None = None) -> None:
        if (key is None) == (passphrase is None):
            raise ValueError("give a Fernet key or a passphrase")
        self._fernet = None if key is None else Fernet(key)
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return "SecretBox(key=***)"

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, *, key_path: Path | None = None
    ) -> SecretBox:
        env = os.environ if environ is None else environ
        secret = env.get(KEY_ENV, "").strip()
        if secret:
            key = _as_fernet_key(secret)
            # Not a Fernet key: a passphrase, so any long random string works.
            return cls(key) if key is not None else cls(passphrase=secret)
        return cls(_load_or_create_key_file(key_path or default_key_path()))

    def seal(self, credentials: Credentials) -> str:
        return self.seal_text(credentials.to_json())

    def seal_text(self, text: str) -> str:
        """Encrypt any secret text (webhook signing secrets, a Greenhouse connection's credentials) in
        the credentials' blob format."""
        data = text.encode()
        if self._fernet is not None:
            return f"{BLOB_PREFIX}{_RAW}{self._fernet.encrypt(data).decode()}"
        assert self._passphrase is not None
        salt = _sealing_salt(self._passphrase)
        token = Fernet(_derived(self._passphrase, salt)).encrypt(data).decode()
        return f"{BLOB_PREFIX}{_SCRYPT}{_b64(salt)}:{token}"

    @staticmethod
    def outdated(blob: str) -> bool:
        """Whether ``blob`` is in a format this version reads but no longer writes: sealing its
        credentials again (``seal(open(blob))``) brings it up to date."""
        return blob.startswith(LEGACY_PREFIX)

    def _fernet_for(self, blob: str) -> tuple[Fernet | None, str]:
        """The Fernet that opens ``blob`` with this box's secret (None: this kind of secret
        cannot), and the blob's Fernet token."""
        if blob.startswith(LEGACY_PREFIX):
            token = blob[len(LEGACY_PREFIX):]
            if self._passphrase is None:
                return self._fernet, token
            return Fernet(_legacy_key(self._passphrase)), token
        body = blob[len(BLOB_PREFIX):]
        if body.startswith(_RAW):
            return self._fernet, body[len(_RAW):]
        salt, _, token = body[len(_SCRYPT):].partition(":")
        if self._passphrase is None:
            return None, token
        try:
            return Fernet(_derived(self._passphrase, _unb64(salt))), token
        except ValueError:  # a damaged salt
            return None, token

    def open(self, blob: str) -> Credentials:
        return Credentials.from_json(self.open_text(blob))

    def open_text(self, blob: str) -> str:
        """Decrypt what ``seal_text`` (or ``seal``) made; ``CredentialsKeyError`` with another key."""
        known = blob.startswith(LEGACY_PREFIX) or blob.startswith(
            (BLOB_PREFIX + _RAW, BLOB_PREFIX + _SCRYPT)
        )
        if not known:
            raise CredentialsKeyError(
                "the stored credentials are not in a format this version understands",
                hint="Run 'thresher login' again for this connection.",
            )
        fernet, token = self._fernet_for(blob)
        try:
            if fernet is None:
                raise InvalidToken
            data = fernet.decrypt(token.encode())
        except InvalidToken:
            raise CredentialsKeyError(
                "the stored credentials cannot be decrypted with this secret key",
                hint=f"Use the {KEY_ENV} (or key file) they were saved with, or run "
                "'thresher login' again.",
            ) from None
        return data.decode()


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
