"""Signing secrets at rest: sealed with the connections' ``SecretBox`` (Fernet), opened on use."""

from __future__ import annotations

import threading

from thresher.connections import CredentialsKeyError, SecretBox

from ._errors import WebhookSecretError

__all__ = ["SecretKeeper"]


class SecretKeeper:
    """Seals new secrets and opens stored ones, remembering what it opened (a passphrase key
    costs an scrypt derivation, and the dispatcher opens a secret per delivery)."""

    def __init__(self, box: SecretBox | None = None) -> None:
        self._box = box
        self._opened: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "SecretKeeper(***)"

    def _the_box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox.from_env()
        return self._box

    def seal(self, secret: str) -> str:
        return self._the_box().seal_text(secret)

    def open(self, sealed: str) -> str:
        with self._lock:
            found = self._opened.get(sealed)
        if found is not None:
            return found
        try:
            secret = self._the_box().open_text(sealed)
        except CredentialsKeyError:
            raise WebhookSecretError(
                "a webhook signing secret cannot be decrypted with this secret key"
            ) from None
        with self._lock:
            self._opened[sealed] = secret
        return secret
