"""Provisioning: everyday user operations and the declarative roster, all through write-through.

Joiners (``onboard``: one invitation, then roles, manager and projects) and leavers
(``offboard``) are one call each.

Harvest's rules for a user's state live here once (``remove_user``, ``edit_user``) and are used by
offboarding, the roster and the SCIM bridge alike.
"""

from ._apply import apply_plan
from ._greenhouse_roster import (
    GREENHOUSE_COLUMNS,
    GreenhouseRosterRow,
    apply_greenhouse_plan,
    load_greenhouse_roster,
    make_greenhouse_plan,
)
from ._joiner import Joiner, JoinerIncompleteError, JoinerResult, JoinerStep, onboard
from ._lifecycle import FROZEN_WHEN_ARCHIVED, Removal, edit_user, remove_user
from ._ops import OffboardResult, ProvisionError, UnknownUserError, find_user, offboard
from ._roster import Change, Plan, PruneRefusedError, default_max_archive, make_plan, membership_diff
from ._roster_file import COLUMNS, MAX_CELL_CHARS, MAX_FILE_BYTES, RosterError, RosterRow, load_roster
from ._saved_plan import (
    GREENHOUSE_BASIS,
    HARVEST_BASIS,
    PlanBasis,
    PlanStaleError,
    SavedPlan,
    check_saved_plan,
    load_saved_plan,
    plan_basis,
    save_plan,
)
from ._writes import WriteThrough

__all__ = [
    "COLUMNS",
    "FROZEN_WHEN_ARCHIVED",
    "GREENHOUSE_BASIS",
    "GREENHOUSE_COLUMNS",
    "HARVEST_BASIS",
    "MAX_CELL_CHARS",
    "MAX_FILE_BYTES",
    "Change",
    "GreenhouseRosterRow",
    "Joiner",
    "JoinerIncompleteError",
    "JoinerResult",
    "JoinerStep",
    "OffboardResult",
    "Plan",
    "PlanBasis",
    "PlanStaleError",
    "ProvisionError",
    "PruneRefusedError",
    "Removal",
    "RosterError",
    "RosterRow",
    "SavedPlan",
    "UnknownUserError",
    "WriteThrough",
    "apply_greenhouse_plan",
    "apply_plan",
    "check_saved_plan",
    "default_max_archive",
    "edit_user",
    "find_user",
    "load_greenhouse_roster",
    "load_roster",
    "load_saved_plan",
    "make_greenhouse_plan",
    "make_plan",
    "membership_diff",
    "offboard",
    "onboard",
    "plan_basis",
    "remove_user",
    "save_plan",
]

# Tracebacks name the public path (``thresher.provision.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
