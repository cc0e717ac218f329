"""Sync: an exact, current mirror of each connected account's roster, with a change log."""

from ._engine import ProgressCallback, RosterSync, SyncOptions, SyncReport
from ._errors import SyncError, SyncInterruptedError

__all__ = [
    "ProgressCallback",
    "RosterSync",
    "SyncError",
    "SyncInterruptedError",
    "SyncOptions",
    "SyncReport",
]

# Tracebacks name the public path (``thresher.sync.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
