"""Provisioning: everyday user operations and the declarative roster, all through write-through."""

from ._credentials import BLOB_PREFIX, Credentials, CredentialsKeyError, SecretBox, default_key_path
from ._oauth import OAuthLoginError, oauth_login
from ._ops import OffboardResult, ProvisionError, UnknownUser, find_user, offboard
from ._roster import COLUMNS, Change, Plan, RosterError, RosterRow, apply_plan, load_roster, make_plan
from ._writes import WriteThrough

__all__ = [
    "BLOB_PREFIX",
    "COLUMNS",
    "Change",
    "Credentials",
    "CredentialsKeyError",
    "OAuthLoginError",
    "OffboardResult",
    "Plan",
    "ProvisionError",
    "RosterError",
    "RosterRow",
    "SecretBox",
    "UnknownUser",
    "WriteThrough",
    "apply_plan",
    "default_key_path",
    "find_user",
    "load_roster",
    "make_plan",
    "oauth_login",
    "offboard",
]
