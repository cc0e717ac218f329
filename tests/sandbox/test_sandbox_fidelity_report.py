"""The fidelity report (``src/thresher/sandbox/fidelity.toml``, ``thresher sandbox fidelity``,
docs/sandbox-fidelity.md) is kept honest here, so that it cannot claim what the tests do not check:

* every test it names exists;
* each §9 row and each gotcha lists exactly the tests marked for it with ``@row`` or ``@gotcha``
  (the marks ``test_sandbox_conformance.py`` already requires for every row and gotcha);
* every row of docs/harvest-api.md §10 has its entry;
* every source exists and carries the mark the report gives it (a section of docs/harvest-api.md,
  an operation of harvest-openapi.yaml, another document of the repository);
* every route the sandbox serves belongs to a behaviour, and every route named is served;
* every test of the conformance, fidelity and work suites appears in the report;
* docs/sandbox-fidelity.md is the report's current Markdown.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import GOTCHAS, SECTION_9
from sandbox_openapi import DEVIATIONS, raw_spec
from starlette.routing import BaseRoute, Mount, Route

from thresher.sandbox import Behaviour, Sandbox, SandboxConfig, fidelity_report
from thresher.sandbox._fidelity import MARKS

ROOT = Path(__file__).resolve().parents[2]
FACT_SHEET = ROOT / "docs" / "harvest-api.md"
PAGE = ROOT / "docs" / "sandbox-fidelity.md"
#: The suites whose every test is a documented behaviour.
SUITES = (
    "test_sandbox_conformance.py", "test_sandbox_fidelity.py", "test_sandbox_work.py", "test_v1_people.py",
)
#: Tests in those suites that check the suite itself, not the sandbox.
SELF_CHECKS = {"tests/sandbox/test_sandbox_conformance.py::test_every_section_9_row_and_gotcha_has_a_test"}
REPORT = fidelity_report()


@cache
def _tests() -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every test function under tests/, by node id (without parameters)."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        module = path.relative_to(ROOT).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            functions: list[tuple[str, Any]] = [(module, node)]
            if isinstance(node, ast.ClassDef):
                functions = [(f"{module}::{node.name}", sub) for sub in node.body]
            for prefix, item in functions:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    found[f"{prefix}::{item.name}"] = item
    return found


def _marked(decorator: str) -> dict[Any, set[str]]:
    """Tests by the arguments of their ``@row(...)`` or ``@gotcha(...)`` marks."""
    marked: dict[Any, set[str]] = {}
    for node_id, function in _tests().items():
        for mark in function.decorator_list:
            if isinstance(mark, ast.Call) and isinstance(mark.func, ast.Name) and mark.func.id == decorator:
                args = tuple(ast.literal_eval(a) for a in mark.args)
                marked.setdefault(args if len(args) > 1 else args[0], set()).add(node_id)
    return marked


@cache
def _sections() -> dict[str, str]:
    """docs/harvest-api.md by section number ("6.4", "8.3", "10"): the text up to the next heading."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in FACT_SHEET.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if heading:
            current = heading.group(1)
            sections[current] = ""
        if current is not None:
            sections[current] += line + "\n"
    return sections


def _section_10_questions() -> list[str]:
    rows = [line for line in _sections()["10"].splitlines() if line.startswith("| ")]
    return [row.split("|")[1].strip() for row in rows[1:]]  # the first is the header


def _pattern(route: str) -> str:
    """``GET /v2/users/{user_id}`` and ``GET /v2/users/{id}`` alike: parameters unnamed."""
    return re.sub(r"\{[^}]*\}", "{}", route)


def _served(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _served(route.routes, prefix + route.path)
        elif isinstance(route, Route) and route.methods:
            path = prefix + route.path
            if path != "/sandbox" and not path.startswith("/sandbox/"):
                yield from (f"{method} {path}" for method in sorted(route.methods - {"HEAD"}))


def test_every_test_named_exists() -> None:
    missing = sorted(REPORT.tests - set(_tests()))
    assert missing == [], "the fidelity report names tests that do not exist"
    assert all(b.tests for b in REPORT.behaviours), "every behaviour needs a test"


def test_rows_and_gotchas_list_exactly_their_marked_tests() -> None:
    rows = {b.row: b for b in REPORT.behaviours if b.row is not None}
    gotchas = {b.gotcha: b for b in REPORT.behaviours if b.gotcha is not None}
    assert sorted(rows) == sorted(f"{method} {path}" for method, path in SECTION_9)
    assert sorted(gotchas) == list(GOTCHAS)
    by_row, by_gotcha = _marked("row"), _marked("gotcha")
    assert sorted(by_row) == sorted(SECTION_9)
    assert sorted(by_gotcha) == list(GOTCHAS)
    for (method, path), tests in by_row.items():
        assert set(rows[f"{method} {path}"].tests) == tests, f"{method} {path}"
    for number, tests in by_gotcha.items():
        assert set(gotchas[number].tests) == tests, f"gotcha {number}"


def test_every_section_10_row_has_an_entry() -> None:
    questions = [b.question for b in REPORT.behaviours if b.question is not None]
    assert questions == _section_10_questions()


def _carries(text: str, mark: str) -> bool:
    """Whether ``text`` gives ``mark``: ``[C]``, ``[C, 2019]``, ``[I, strong evidence]``, or ``| C |``
    in a table's mark column."""
    return re.search(rf"(\[|\| ){mark}[],| ]", text) is not None


def _section_10_row(question: str) -> str:
    return next(line for line in _sections()["10"].splitlines() if line.startswith(f"| {question} |"))


def _check_source(behaviour: Behaviour) -> None:
    assert behaviour.mark in MARKS, f"unknown mark {behaviour.mark!r}"
    document, _, where = behaviour.source.partition(" ")
    if document == "docs/harvest-api.md":
        gotcha = where.removeprefix("gotcha ")
        number = f"8.{gotcha}" if gotcha != where else where.removeprefix("§")
        text = _sections().get(number)
        assert text is not None, f"no section {where} in docs/harvest-api.md"
        if behaviour.question is not None:
            # §0: a §10 row is [U], the default picked for an open question, unless it says more.
            row = _section_10_row(behaviour.question)
            given = [m for m in ("C", "U", "I") if _carries(row, m)]
            assert [behaviour.mark] == (given or ["U"]), behaviour.question
        else:
            assert behaviour.mark in ("C", "U", "I")
            assert _carries(text, behaviour.mark), f"{where} does not carry the mark [{behaviour.mark}]"
    elif document == "harvest-openapi.yaml":
        assert behaviour.mark == "OpenAPI"
        paths = {_pattern(f"{m.upper()} /v2{p}") for p, ops in raw_spec()["paths"].items() for m in ops}
        for route in behaviour.served:
            assert _pattern(route) in paths, f"{route} is not an operation of harvest-openapi.yaml"
    elif document == "thresher.sandbox":
        assert behaviour.mark == "-"
    else:
        assert (ROOT / document).is_file(), f"no document {document}"


@pytest.mark.parametrize("behaviour", REPORT.behaviours, ids=lambda b: b.name)
def test_every_source_exists_and_carries_its_mark(behaviour: Behaviour) -> None:
    _check_source(behaviour)


def test_every_served_route_belongs_to_a_behaviour() -> None:
    served = {_pattern(r) for r in _served(Sandbox(SandboxConfig(users=3, rate_limit=None)).app.routes)}
    named = {_pattern(r) for b in REPORT.behaviours for r in b.served}
    assert sorted(served - named) == [], "routes the sandbox serves that no behaviour describes"
    assert sorted(named - served) == [], "routes the report names that the sandbox does not serve"


def test_every_suite_test_is_in_the_report() -> None:
    suite_tests = {t for t in _tests() if t.split("::")[0].rsplit("/", 1)[-1] in SUITES}
    assert sorted(suite_tests - REPORT.tests - SELF_CHECKS) == []


def test_the_schema_checks_apply_the_reports_deviations() -> None:
    assert {d.key: d.reason for d in REPORT.deviations} == DEVIATIONS
    for deviation in REPORT.deviations:
        assert deviation.tests == (
            f"tests/sandbox/test_sandbox_openapi.py::test_deviation_{deviation.key.replace('-', '_')}",
        )


def test_the_docs_page_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == REPORT.markdown(), (
        "docs/sandbox-fidelity.md is out of date: run "
        "thresher sandbox fidelity --markdown > docs/sandbox-fidelity.md"
    )
