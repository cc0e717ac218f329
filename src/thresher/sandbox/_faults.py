"""Injected faults for resilience tests: seeded, so the same spec replays the same failures.

Spec syntax (``--faults``, ``SandboxConfig.faults``, ``PUT /sandbox/faults``), comma-separated:

=====================  ========================================================================
``500:0.05``           answer 5 % of requests with that status (any 500..599; 500 is JSON
                       ``{"status":500,"error":"Internal Server Error"}``, others an HTML page)
``drop:0.01``          close the connection after the status line, before the body (the
                       request is not processed)
``lost:0.01``          process the request, then close the connection the same way: the
                       change is made and the client never hears of it (the case a create
                       must not be blindly re-sent in)
``429burst:0.01x5``    start a burst of 5 consecutive 429s (with ``Retry-After``) with 1 %
                       probability; ``x N`` defaults to 1
``delay:0.1@200ms``    delay 10 % of requests by 200 ms (independent of the faults above)
``seed=7``             seed of the fault sequence (default: the sandbox's ``seed``)
=====================  ========================================================================

The status, drop, lost and burst probabilities are exclusive and must add up to at most 1. ``""``,
``none`` or ``off`` mean no faults.

Determinism: every API or identity request (never a control-plane one) draws exactly two numbers
from ``random.Random(seed)`` in arrival order, one choosing the fault and one the delay, so request
*n* meets the same fault on every run with the same spec, whatever the timing. Setting a spec (even
the same one again) restarts its sequence.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from typing import Literal

from ._duration import parse_duration
from ._errors import SandboxConfigError

__all__ = ["FaultConfig", "FaultDecision", "FaultInjector"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Parsed faults spec; ``FaultConfig.parse(spec)`` and ``str(config)`` round-trip."""

    #: (status, probability) pairs, status in 500..599.
    statuses: tuple[tuple[int, float], ...] = ()
    drop: float = 0.0
    lost: float = 0.0
    burst_429: float = 0.0
    burst_length: int = 1
    delay: float = 0.0
    delay_seconds: float = 0.0
    #: None: the sandbox's seed.
    seed: int | None = None

    def __post_init__(self) -> None:
        probabilities = [p for _, p in self.statuses] + [self.drop, self.lost, self.burst_429, self.delay]
        if any(not 0.0 <= p <= 1.0 for p in probabilities):
            raise SandboxConfigError("fault probabilities must be between 0 and 1")
        if sum(p for _, p in self.statuses) + self.drop + self.lost + self.burst_429 > 1.0 + 1e-9:
            raise SandboxConfigError(
                "status, drop, lost and 429burst probabilities add up to more than 1",
                hint="They are exclusive: one request meets at most one of them.",
            )
        if any(not 500 <= s <= 599 for s, _ in self.statuses):
            raise SandboxConfigError("fault statuses must be 500..599 (use 429burst for 429)")
        if self.burst_length < 1 or self.delay_seconds < 0:
            raise SandboxConfigError("429burst length must be >= 1 and delays >= 0")

    @property
    def active(self) -> bool:
        return bool(
            self.statuses or self.drop or self.lost or self.burst_429
            or (self.delay and self.delay_seconds)
        )

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """Parse a spec string (see the module docstring)."""
        text = spec.strip()
        if text.lower() in ("", "none", "off"):
            return cls()
        statuses: dict[int, float] = {}
        fields: dict[str, float | int] = {}
        for raw in text.split(","):
            item = raw.strip().replace(" ", "")
            if not item:
                continue
            try:
                if item.startswith("seed="):
                    fields["seed"] = int(item[5:])
                    continue
                name, sep, value = item.partition(":")
                if not sep:
                    raise ValueError(item)
                if name in ("drop", "lost"):
                    fields[name] = float(value)
                elif name == "429burst":
                    probability, _, length = value.partition("x")
                    fields["burst_429"] = float(probability)
                    fields["burst_length"] = int(length) if length else 1
                elif name == "delay":
                    probability, at, duration = value.partition("@")
                    if not at:
                        raise ValueError(item)
                    fields["delay"] = float(probability)
                    fields["delay_seconds"] = parse_duration(duration, default_unit="ms")
                elif name.isdigit():
                    statuses[int(name)] = float(value)
                else:
                    raise ValueError(item)
            except ValueError as exc:
                if isinstance(exc, SandboxConfigError):
                    raise
                raise SandboxConfigError(
                    f"faults spec item {raw.strip()!r} is not understood",
                    hint='Example: "500:0.05,502:0.02,503:0.02,drop:0.01,lost:0.01,'
                    'delay:0.1@200ms,429burst:0.01x5,seed=7".',
                ) from None
        return cls(statuses=tuple(sorted(statuses.items())), **fields)  # type: ignore[arg-type]

    @classmethod
    def coerce(cls, value: str | FaultConfig | None) -> FaultConfig:
        if value is None:
            return cls()
        return value if isinstance(value, FaultConfig) else cls.parse(value)

    def __str__(self) -> str:
        items = [f"{status}:{p:g}" for status, p in self.statuses]
        if self.drop:
            items.append(f"drop:{self.drop:g}")
        if self.lost:
            items.append(f"lost:{self.lost:g}")
        if self.delay:
            items.append(f"delay:{self.delay:g}@{self.delay_seconds * 1000:g}ms")
        if self.burst_429:
            items.append(f"429burst:{self.burst_429:g}x{self.burst_length}")
        if self.seed is not None:
            items.append(f"seed={self.seed}")
        return ",".join(items)


@dataclasses.dataclass(frozen=True)
class FaultDecision:
    """What one request meets: an ``action`` (or None) and a delay in seconds."""

    action: Literal["status", "drop", "lost", "429"] | None
    status: int = 0
    delay: float = 0.0

    @property
    def label(self) -> str | None:
        """How the request log names the fault."""
        if self.action == "status":
            return str(self.status)
        if self.action is not None:
            return self.action
        return "delay" if self.delay else None


_NONE = FaultDecision(None)


class FaultInjector:
    """Draws the fault of each request from the seeded sequence (thread-safe)."""

    def __init__(self, config: FaultConfig, default_seed: int) -> None:
        self.config = config
        self._rng = random.Random(config.seed if config.seed is not None else default_seed)
        self._burst_left = 0
        self._lock = threading.Lock()
        # Cumulative thresholds over the exclusive faults, in a fixed order.
        self._table: list[tuple[float, FaultDecision]] = []
        edge = 0.0
        for status, p in config.statuses:
            edge += p
            self._table.append((edge, FaultDecision("status", status)))
        edge += config.drop
        self._table.append((edge, FaultDecision("drop")))
        edge += config.lost
        self._table.append((edge, FaultDecision("lost")))
        edge += config.burst_429
        self._table.append((edge, FaultDecision("429")))

    def draw(self) -> FaultDecision:
        if not self.config.active:
            return _NONE
        with self._lock:
            pick, delay_pick = self._rng.random(), self._rng.random()
            if self._burst_left:
                self._burst_left -= 1
                chosen: FaultDecision | None = FaultDecision("429")
            else:
                chosen = next((d for edge, d in self._table if pick < edge), None)
                if chosen is not None and chosen.action == "429":
                    self._burst_left = self.config.burst_length - 1
        delay = self.config.delay_seconds if delay_pick < self.config.delay else 0.0
        if chosen is None:
            return FaultDecision(None, delay=delay) if delay else _NONE
        return dataclasses.replace(chosen, delay=delay)
