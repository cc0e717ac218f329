"""Standard Webhooks signatures (https://www.standardwebhooks.com), by its reference library.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``; during a
secret rotation it carries one such signature per secret, space separated, and receivers accept
any that verifies. Secrets are ``whsec_`` and base64 of 32 random bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets

from standardwebhooks import Webhook

__all__ = ["SECRET_PREFIX", "generate_secret", "signature_headers"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's marker, not a secret


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@functools.lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    # Decoding the secret once per secret, not per delivery; the key lives as long as the cache.
    return Webhook(secret)


def signature_headers(
    message_id: str, body: bytes, secrets_: list[str], *, now: dt.datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with every secret given."""
    timestamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    text = body.decode()
    signatures = " ".join(_signer(s).sign(message_id, timestamp, text) for s in secrets_)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
