"""Provisioning: everyday user operations and the declarative roster, all through write-through.

Harvest's rules for a user's state live here once (``remove_user``, ``edit_user``) and are used by
offboarding, the roster and the SCIM bridge alike.
"""

from ._lifecycle import FROZEN_WHEN_ARCHIVED, Removal, edit_user, remove_user
from ._ops import OffboardResult, ProvisionError, UnknownUserError, find_user, offboard
from ._roster import Change, Plan, apply_plan, make_plan
from ._roster_file import COLUMNS, RosterError, RosterRow, load_roster
from ._writes import WriteThrough

__all__ = [
    "COLUMNS",
    "FROZEN_WHEN_ARCHIVED",
    "Change",
    "OffboardResult",
    "Plan",
    "ProvisionError",
    "Removal",
    "RosterError",
    "RosterRow",
    "UnknownUserError",
    "WriteThrough",
    "apply_plan",
    "edit_user",
    "find_user",
    "load_roster",
    "make_plan",
    "offboard",
    "remove_user",
]

# Tracebacks name the public path (``thresher.provision.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
