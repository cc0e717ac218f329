"""Files and keys at rest: the store's folder 0700 and its SQLite files 0600 from their first
byte, the sandbox's state file 0600, and a ``THRESHER_SECRET_KEY`` passphrase stretched with salted
scrypt (blobs of the old unsalted form still read, and rewritten).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from thresher.connections import BLOB_PREFIX, Credentials, CredentialsKeyError, SecretBox, resolve
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store

UA = "thresher-file-tests (tests@example.com)"
PASSPHRASE = "correct horse battery staple"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most shells have (022): modes must not depend on a stricter one."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_default_store_is_private_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None
) -> None:
    monkeypatch.delenv("THRESHER_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Store.open() as store:
        store.upgrade()
        store.add_connection("acme", 1)
        folder = tmp_path / "data" / "thresher"
        db = folder / "thresher.db"
        assert store.url == f"sqlite:///{db}"
        assert _mode(folder) == 0o700
        # WAL mode: the -wal and -shm files exist while the store is open, with the file's mode.
        files = {p.name: _mode(p) for p in folder.iterdir()}
        assert files == {"thresher.db": 0o600, "thresher.db-wal": 0o600, "thresher.db-shm": 0o600}


def test_a_store_file_at_a_given_path_is_created_0600(tmp_path: Path, usual_umask: None) -> None:
    db = tmp_path / "mirror.db"
    with Store.open(f"sqlite:///{db}") as store:
        store.upgrade()
        assert _mode(db) == 0o600
        assert all(_mode(p) == 0o600 for p in tmp_path.glob("mirror.db*"))


def test_the_sandbox_state_file_is_0600(tmp_path: Path, usual_umask: None) -> None:
    saved = Sandbox(SandboxConfig(users=3, seed=1, rate_limit=None)).save(tmp_path / "state.json")
    assert _mode(saved) == 0o600


def _legacy_blob(passphrase: str, creds: Credentials) -> str:
    """A blob as earlier versions wrote it: Fernet key = base64(sha256(passphrase)), no salt."""
    key = base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())
    return "fernet:v1:" + Fernet(key).encrypt(creds.to_json().encode()).decode()


def test_a_passphrase_is_stretched_with_a_salt_carried_by_the_blob() -> None:
    creds = Credentials("pat", "s3cret-token-value", UA, user_id=7)
    box = SecretBox.from_env({"THRESHER_SECRET_KEY": PASSPHRASE})
    blob = box.seal(creds)
    assert blob.startswith(BLOB_PREFIX + "scrypt:")
    salt = blob[len(BLOB_PREFIX + "scrypt:"):].split(":", 1)[0]
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert "s3cret" not in blob
    assert SecretBox.from_env({"THRESHER_SECRET_KEY": PASSPHRASE}).open(blob) == creds

    key = Fernet.generate_key().decode()  # a real Fernet key is used as it is
    keyed = SecretBox.from_env({"THRESHER_SECRET_KEY": key}).seal(creds)
    assert keyed.startswith(BLOB_PREFIX + "key:")
    assert SecretBox.from_env({"THRESHER_SECRET_KEY": key}).open(keyed) == creds

    for wrong, sealed in (("another passphrase", blob), (key, blob), (PASSPHRASE, keyed),
                          ("another passphrase", _legacy_blob(PASSPHRASE, creds))):
        with pytest.raises(CredentialsKeyError, match="cannot be decrypted with this secret key"):
            SecretBox.from_env({"THRESHER_SECRET_KEY": wrong}).open(sealed)


def test_an_old_unsalted_blob_is_read_and_rewritten_salted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", PASSPHRASE)
    for name in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    creds = Credentials("pat", "old-token-value", UA, user_id=3)
    old = _legacy_blob(PASSPHRASE, creds)
    assert SecretBox.outdated(old)
    with Store.open(f"sqlite:///{tmp_path / 'thresher.db'}") as store:
        store.upgrade()
        store.add_connection("acme", 1, credentials_ref=old, is_default=True)
        version = store.get_connection("acme").credentials_version

        resolved = resolve(store, "acme")
        assert resolved.credentials == creds
        assert resolved.settings.access_token == "old-token-value"

        stored = store.get_connection("acme")
        assert stored.credentials_ref is not None
        assert stored.credentials_ref.startswith(BLOB_PREFIX + "scrypt:")
        assert not SecretBox.outdated(stored.credentials_ref)
        assert stored.credentials_version == version + 1
        assert resolved.connection.credentials_version == stored.credentials_version
        assert SecretBox.from_env().open(stored.credentials_ref) == creds

        again = resolve(store, "acme")  # already current: nothing written
        assert again.credentials == creds
        assert store.get_connection("acme").credentials_version == version + 1
