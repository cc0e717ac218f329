"""Every exception of ``thresher.connections``, grouped by what the caller should do.

All derive from ``ThresherError`` so the CLI prints them as one sentence plus a hint.
"""

from __future__ import annotations

from thresher._errors import ThresherError

__all__ = [
    "ConnectionMismatchError",
    "ConnectionNameError",
    "ConnectionsError",
    "CredentialsBusyError",
    "CredentialsKeyError",
    "NoConnectionError",
    "OAuthLoginError",
    "UnsupportedProviderError",
]


class ConnectionsError(ThresherError):
    """Base class of this part's errors."""


class NoConnectionError(ConnectionsError):
    """No connection matches what was asked for: log in, or set the ``HARVEST_*`` variables."""

    exit_code = 78  # sysexits EX_CONFIG


class ConnectionMismatchError(ConnectionsError):
    """The configuration names another Harvest account than the stored connection of that name:
    nothing is changed (the stored roster exists nowhere else); remove it, or pick another name."""

    exit_code = 78  # sysexits EX_CONFIG


class ConnectionNameError(ConnectionsError):
    """A new connection's name is malformed or reserved (``env`` means the ``HARVEST_*``
    variables): nothing is saved; pick another name."""

    exit_code = 2  # usage


class CredentialsKeyError(ConnectionsError):
    """The stored credentials cannot be decrypted with the key at hand."""


class CredentialsBusyError(ConnectionsError):
    """Another process kept the connection's credentials locked (refreshing) for too long."""

    exit_code = 75  # sysexits EX_TEMPFAIL


class OAuthLoginError(ConnectionsError):
    """The browser step of the OAuth login did not yield an authorization code."""


class UnsupportedProviderError(ConnectionsError):
    """The operation does not exist for the connection's product (Harvest or Greenhouse
    Recruiting): a usage error, like an option the command does not have (docs/greenhouse.md §6)."""

    exit_code = 2  # usage
