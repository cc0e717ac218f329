"""The fidelity report: every documented behaviour the sandbox implements, where it is documented,
the tests that check it, and where the sandbox knowingly differs from Harvest.

The data is ``fidelity.toml`` beside this module (its header says what each field means);
``thresher sandbox fidelity`` prints it and ``docs/sandbox-fidelity.md`` is its Markdown form.
tests/sandbox/test_sandbox_fidelity_report.py keeps it honest against the tests that exist, the
@row and @gotcha marks of the conformance suite, docs/harvest-api.md, harvest-openapi.yaml and the
routes the sandbox serves, so a behaviour without a test, or a test named here that does not
exist, fails CI.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from importlib import resources
from typing import Any

__all__ = ["Behaviour", "Deviation", "FidelityReport", "fidelity_report"]

_DATA = "fidelity.toml"
#: What the marks mean (docs/harvest-api.md §0 for the first three).
MARKS = {
    "C": "confirmed by Harvest's docs or recorded traffic",
    "U": "uncertain: the sandbox picks a default, often a setting",
    "I": "inferred from production clients",
    "OpenAPI": "the community OpenAPI description of Harvest's docs (docs/harvest-api.md §11)",
    "-": "a feature of the sandbox, not of Harvest",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Behaviour:
    """One behaviour: exactly one of ``row`` (a §9 ``METHOD path``), ``gotcha``, ``question`` (a
    §10 row) or ``key`` names it."""

    what: str
    source: str
    mark: str
    tests: tuple[str, ...]
    routes: tuple[str, ...] = ()
    deviation: str | None = None
    row: str | None = None
    gotcha: int | None = None
    question: str | None = None
    key: str | None = None

    @property
    def name(self) -> str:
        if self.row is not None:
            return self.row
        if self.gotcha is not None:
            return f"gotcha {self.gotcha}"
        return self.question or self.key or ""

    @property
    def served(self) -> tuple[str, ...]:
        """The routes this behaviour covers, ``"METHOD /path"``: a §9 row's own and ``routes``."""
        return self.routes if self.row is None else (self.row, *self.routes)

    @property
    def group(self) -> str:
        if self.row is not None:
            return "Paths (docs/harvest-api.md §9)"
        if self.gotcha is not None:
            return "Gotchas (docs/harvest-api.md §8)"
        if self.question is not None:
            return "Undocumented behaviour: the sandbox's defaults (docs/harvest-api.md §10)"
        if self.source.startswith("docs/harvest-api.md"):
            return "Conventions (docs/harvest-api.md §1 to §7)"
        if self.source.startswith("harvest-openapi.yaml"):
            return "Beyond the fact sheet: what harvest-openapi.yaml documents"
        if self.source == "thresher.sandbox":
            return "The sandbox's own features"
        if self.source.startswith("docs/migrating-from-v1.md"):
            return "The legacy v1 People API (docs/migrating-from-v1.md)"
        return self.source.split(" ", 1)[0]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True, slots=True)
class Deviation:
    """A deliberate deviation from harvest-openapi.yaml, applied by the schema checks."""

    key: str
    reason: str
    tests: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class FidelityReport:
    behaviours: tuple[Behaviour, ...]
    deviations: tuple[Deviation, ...]

    @property
    def tests(self) -> set[str]:
        """Every test node id the report names."""
        named = {t for b in self.behaviours for t in b.tests}
        return named | {t for d in self.deviations for t in d.tests}

    def as_dict(self) -> dict[str, Any]:
        return {
            "marks": MARKS,
            "behaviours": [b.as_dict() for b in self.behaviours],
            "deviations": [dataclasses.asdict(d) for d in self.deviations],
        }

    def markdown(self) -> str:
        """docs/sandbox-fidelity.md."""
        lines = [
            "# Sandbox fidelity",
            "",
            "What the sandbox (`thresher.sandbox`) implements, where each behaviour is documented,",
            "and the tests that check it. Generated from `src/thresher/sandbox/fidelity.toml` by",
            "`thresher sandbox fidelity --markdown > docs/sandbox-fidelity.md`;",
            "`tests/sandbox/test_sandbox_fidelity_report.py` fails when this page is out of date, when a",
            "behaviour has no test or names one that does not exist, and when a route the sandbox",
            "serves is missing.",
            "",
            "Marks: " + "; ".join(f"**{mark}** {meaning}" for mark, meaning in MARKS.items()) + ".",
        ]
        groups: dict[str, list[Behaviour]] = {}
        for behaviour in self.behaviours:
            groups.setdefault(behaviour.group, []).append(behaviour)
        for group, members in groups.items():
            lines += [
                "",
                f"## {group}",
                "",
                "| Behaviour | What the sandbox does | Source | Tests |",
                "|---|---|---|---|",
            ]
            for b in members:
                what = b.what if b.deviation is None else f"{b.what}. **Deviation:** {b.deviation}"
                source = f"{b.source} [{b.mark}]" if b.mark != "-" else b.source
                lines.append(
                    f"| {_cell(b.name)} | {_cell(what)} | {_cell(source)} | "
                    f"{'<br>'.join(_code(t) for t in b.tests)} |"
                )
        lines += [
            "",
            "## Deviations from harvest-openapi.yaml",
            "",
            "Where the community file is wrong about the real API, the schema checks patch a copy",
            "(`tests/sandbox/sandbox_openapi.py`); `tests/sandbox/test_sandbox_openapi.py` checks each",
            "patch is still needed.",
            "",
            "| Deviation | Reason | Tests |",
            "|---|---|---|",
        ]
        for d in self.deviations:
            lines.append(f"| `{d.key}` | {_cell(d.reason)} | {'<br>'.join(_code(t) for t in d.tests)} |")
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(test: str) -> str:
    return f"`{test}`"


@functools.cache
def fidelity_report() -> FidelityReport:
    """The report, from ``fidelity.toml`` (read once)."""
    data = tomllib.loads(resources.files(__package__).joinpath(_DATA).read_text(encoding="utf-8"))
    behaviours = tuple(
        Behaviour(**{**entry, "tests": tuple(entry["tests"]), "routes": tuple(entry.get("routes", ()))})
        for entry in data["behaviour"]
    )
    deviations = tuple(
        Deviation(key=entry["key"], reason=entry["reason"], tests=tuple(entry["tests"]))
        for entry in data["deviation"]
    )
    return FidelityReport(behaviours, deviations)
