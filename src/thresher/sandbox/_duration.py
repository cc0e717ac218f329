"""Durations in the sandbox's specs: ``"15s"`` in a rate limit, ``"200ms"`` in a fault spec."""

from __future__ import annotations

import math
import re

from ._errors import SandboxConfigError

__all__ = ["parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$")


def parse_duration(text: str, *, default_unit: str = "s") -> float:
    """Seconds from ``"15s"``, ``"1.5s"``, ``"200ms"``, ``"15min"``, ``"1h"`` (a bare number uses
    ``default_unit``)."""
    match = _DURATION.match(text.lower())
    if not match or (match.group(2) or default_unit) not in _UNITS:
        raise SandboxConfigError(
            f"{text!r} is not a duration",
            hint="Write a number and a unit: 200ms, 1.5s, 15s, 15min or 1h.",
        )
    value = float(match.group(1)) * _UNITS[match.group(2) or default_unit]
    if not math.isfinite(value) or value <= 0:
        raise SandboxConfigError(f"{text!r} is not a positive duration")
    return value
