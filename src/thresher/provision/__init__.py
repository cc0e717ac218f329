"""Provisioning: everyday user operations and the declarative roster, all through write-through."""

from ._ops import OffboardResult, ProvisionError, UnknownUserError, find_user, offboard
from ._roster import COLUMNS, Change, Plan, RosterError, RosterRow, apply_plan, load_roster, make_plan
from ._writes import WriteThrough

__all__ = [
    "COLUMNS",
    "Change",
    "OffboardResult",
    "Plan",
    "ProvisionError",
    "RosterError",
    "RosterRow",
    "UnknownUserError",
    "WriteThrough",
    "apply_plan",
    "find_user",
    "load_roster",
    "make_plan",
    "offboard",
]
