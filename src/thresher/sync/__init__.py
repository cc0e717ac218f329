"""Sync: an exact, current mirror of each connected account's roster, with a change log.

``RosterSync`` syncs a Harvest connection, ``GreenhouseSync`` a Greenhouse Recruiting one
(docs/greenhouse.md §6); both write the same mirror and change log."""

from ._engine import RosterSync
from ._errors import SyncBusyError, SyncError, SyncInterruptedError, SyncSupersededError
from ._greenhouse import GreenhouseSync
from ._report import ProgressCallback, SyncOptions, SyncReport

__all__ = [
    "GreenhouseSync",
    "ProgressCallback",
    "RosterSync",
    "SyncBusyError",
    "SyncError",
    "SyncInterruptedError",
    "SyncOptions",
    "SyncReport",
    "SyncSupersededError",
]

# Tracebacks name the public path (``thresher.sync.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
