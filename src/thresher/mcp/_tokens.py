"""Bearer tokens of the MCP server over HTTP: the SCIM tokens' machinery, in a scope of its own.

Rows live in ``scim_tokens`` with ``scope = 'mcp'`` (migration r0006), so a SCIM token never
opens the MCP server nor the other way round. A token reads ``thmcp_<key>_<secret>``: ``key``
finds the row, the secret is kept only as HMAC-SHA256(salt, secret) and compared in constant
time, as the bridge's are (``thresher.scim``'s tokens). Each has optional allowed networks (CIDR)
and may be read-only (it then sees the read tools only). Every request reads the row again, one
indexed lookup, so a revocation holds from the very next request, in every process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets

from thresher.store import DuplicateScimTokenError, ScimTokens, Store, StoredScimToken

from ._errors import McpError

__all__ = ["MCP_TOKEN_PREFIX", "McpToken", "McpTokenError", "McpTokens"]

MCP_TOKEN_PREFIX = "thmcp_"  # noqa: S105 - a prefix, not a secret
_SCOPE = "mcp"


class McpTokenError(McpError):
    """A token cannot be made or revoked as asked."""


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class McpToken:
    """A token as listed: never its secret (nobody has it after it was shown)."""

    name: str
    key: str
    allowed_cidrs: list[str]
    read_only: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def _of(cls, row: StoredScimToken) -> McpToken:
        return cls(row.name, row.key, list(row.allowed_cidrs), row.read_only, row.created_at, row.revoked_at)

    def allows(self, address: str | None) -> bool:
        """Whether a client at ``address`` may use the token (anyone when no network is set)."""
        if not self.allowed_cidrs:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
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
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


class McpTokens:
    """Create, list, revoke and check the MCP server's tokens."""

    def __init__(self, store: Store) -> None:
        self._rows = ScimTokens(store, scope=_SCOPE)

    def create(
        self, name: str, *, allowed_cidrs: list[str] | None = None, read_only: bool = False
    ) -> tuple[McpToken, str]:
        """A new token and its secret value, which is never available again."""
        cidrs = []
        for cidr in allowed_cidrs or []:
            try:
                cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError:
                raise McpTokenError(
                    f"{cidr!r} is not an IP network",
                    hint="Write networks as e.g. 10.0.0.0/8 or 192.0.2.7/32.",
                ) from None
        key, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        try:
            row = self._rows.add(
                name=name,
                key=key,
                salt=salt,
                digest=_digest(salt, secret),
                allowed_cidrs=cidrs,
                read_only=read_only,
                created_at=dt.datetime.now(dt.UTC),
            )
        except DuplicateScimTokenError:
            raise McpTokenError(
                f"a token named {name!r} exists already (token names are shared with SCIM tokens)",
                hint="Pick another name, or revoke the old token.",
            ) from None
        return McpToken._of(row), f"{MCP_TOKEN_PREFIX}{key}_{secret}"

    def list_tokens(self, *, include_revoked: bool = False) -> list[McpToken]:
        return [McpToken._of(r) for r in self._rows.list_tokens(include_revoked=include_revoked)]

    def revoke(self, name: str) -> None:
        if not self._rows.revoke(name, revoked_at=dt.datetime.now(dt.UTC)):
            raise McpTokenError(f"no active MCP token named {name!r}", hint="See 'thresher mcp token list'.")

    def authenticate(self, presented: str) -> McpToken | None:
        """The live token a bearer value belongs to, or None."""
        key, sep, secret = presented.removeprefix(MCP_TOKEN_PREFIX).partition("_")
        if not presented.startswith(MCP_TOKEN_PREFIX) or not sep or not key or not secret:
            return None
        row = self._rows.by_key(key)
        if row is None:
            # The same work as a real comparison, so timing does not tell keys apart.
            hmac.compare_digest(_digest("00" * 16, secret), "0" * 64)
            return None
        if not hmac.compare_digest(_digest(row.salt, secret), row.digest) or row.revoked_at is not None:
            return None
        return McpToken._of(row)
