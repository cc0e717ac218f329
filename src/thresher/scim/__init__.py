"""SCIM 2.0 bridge: a service provider for Okta, Entra ID, OneLogin and JumpCloud over Harvest.

Lookups are answered from the roster mirror, writes go to Harvest through the write-through layer,
and what Harvest has no field for (externalId, enterprise attributes, the IdP's emails) is kept in
thresher (migration r0002). See ``ScimBridge`` for the app, ``TokenStore`` for its bearer tokens.
"""

from ._app import BridgeRequest, ScimBridge
from ._base import BridgeBase, MirrorStorage
from ._errors import TokenError
from ._greenhouse_bridge import GreenhouseScimBridge
from ._greenhouse_storage import GreenhouseScimUser, GreenhouseStorage, greenhouse_provider
from ._local import LocalRecords, UserExtras
from ._mapping import normalize_access_roles
from ._models import (
    HARVEST_USER_SCHEMA,
    TOLERANT_POLICY,
    EnterpriseUser,
    HarvestUser,
    ScimGroup,
    ScimUser,
    build_provider,
)
from ._storage import DeleteMode, HarvestStorage
from ._tokens import ScimToken, TokenStore

__all__ = [
    "HARVEST_USER_SCHEMA",
    "TOLERANT_POLICY",
    "BridgeBase",
    "BridgeRequest",
    "DeleteMode",
    "EnterpriseUser",
    "GreenhouseScimBridge",
    "GreenhouseScimUser",
    "GreenhouseStorage",
    "HarvestStorage",
    "HarvestUser",
    "LocalRecords",
    "MirrorStorage",
    "ScimBridge",
    "ScimGroup",
    "ScimToken",
    "ScimUser",
    "TokenError",
    "TokenStore",
    "UserExtras",
    "build_provider",
    "greenhouse_provider",
    "normalize_access_roles",
]

# Tracebacks name the public path (``thresher.scim.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
