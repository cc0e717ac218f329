"""Connections: the one way from a connection name (or ``HARVEST_*``) to a ready client.

Every command, the sync, the SCIM bridge and embedders obtain their Harvest client here::

    from thresher.connections import open_client
    from thresher.store import Store

    store = Store.open()                     # THRESHER_DATABASE_URL, else the default file
    async with open_client(store, "acme") as harvest:   # None: HARVEST_* env, else the default
        me = await harvest.me()

Saved connections (``thresher login``) keep their credentials encrypted with Fernet
(``SecretBox``: the key from ``THRESHER_SECRET_KEY`` or a 0600 key file). OAuth connections
refresh expired tokens, save the new ones at once, and take a token another process saved.
A login checks a token before anything is saved (``reachable_accounts``, ``token_owner``), then
records it with ``save_connection``.

A connection may instead be a Greenhouse Recruiting account (``provider == "greenhouse"``,
docs/greenhouse.md §6): ``save_greenhouse_connection`` records one, ``open_greenhouse`` gives its
``AsyncGreenhouse``; ``open_client`` refuses it with ``UnsupportedProviderError`` (exit 2).
"""

from ._credentials import BLOB_PREFIX, Credentials, SecretBox, default_key_path
from ._errors import (
    ConnectionMismatchError,
    ConnectionNameError,
    ConnectionsError,
    CredentialsBusyError,
    CredentialsKeyError,
    NoConnectionError,
    OAuthLoginError,
    UnsupportedProviderError,
)
from ._greenhouse import (
    GREENHOUSE,
    GreenhouseCredentials,
    ResolvedGreenhouse,
    check_greenhouse,
    greenhouse_budget,
    open_greenhouse,
    resolve_greenhouse,
    save_greenhouse_connection,
)
from ._login import reachable_accounts, save_connection, token_owner
from ._names import RESERVED_NAMES, check_connection_name
from ._oauth_login import oauth_login
from ._resolve import ENV_CONNECTION, ResolvedConnection, open_client, resolve

__all__ = [
    "BLOB_PREFIX",
    "ENV_CONNECTION",
    "GREENHOUSE",
    "RESERVED_NAMES",
    "ConnectionMismatchError",
    "ConnectionNameError",
    "ConnectionsError",
    "Credentials",
    "CredentialsBusyError",
    "CredentialsKeyError",
    "GreenhouseCredentials",
    "NoConnectionError",
    "OAuthLoginError",
    "ResolvedConnection",
    "ResolvedGreenhouse",
    "SecretBox",
    "UnsupportedProviderError",
    "check_connection_name",
    "check_greenhouse",
    "default_key_path",
    "greenhouse_budget",
    "oauth_login",
    "open_client",
    "open_greenhouse",
    "reachable_accounts",
    "resolve",
    "resolve_greenhouse",
    "save_connection",
    "save_greenhouse_connection",
    "token_owner",
]

# Tracebacks name the public path (``thresher.connections.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
