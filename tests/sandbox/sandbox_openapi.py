"""Validate sandbox answers against ``harvest-openapi.yaml`` (the community OpenAPI file).

The file ships with the tests (``tests/sandbox/data/``, MIT licensed, see the README there). Each
place where the file is wrong about the real API (docs/harvest-api.md §11) is patched here, on a
copy, and listed in ``DEVIATIONS`` with its reason. Everything else in the file is enforced,
including that every documented property is present (real responses carry every field, §11 row 3),
so the sandbox cannot drop a field unnoticed.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from thresher.sandbox import fidelity_report

SPEC_PATH = Path(__file__).resolve().parent / "data" / "harvest-openapi.yaml"

#: Deliberate deviations from the file, each with the docs/harvest-api.md row that justifies it: kept
#: in the sandbox's fidelity report (src/thresher/sandbox/fidelity.toml), which lists them.
DEVIATIONS: dict[str, str] = {d.key: d.reason for d in fidelity_report().deviations}

_LIST_WRAPPERS = (
    "Users",
    "Roles",
    "Teammates",
    "BillableRates",
    "CostRates",
    "ProjectAssignments",
    "UserAssignments",
    "Clients",
    "Projects",
    "Tasks",
)
#: The team report's fields (the file's example for GET /reports/time/team).
TEAM_REPORT_FIELDS = (
    "user_id", "user_name", "is_contractor", "total_hours", "billable_hours", "currency",
    "billable_amount", "weekly_capacity", "avatar_url",
)


@functools.cache
def _spec() -> dict[str, Any] | None:
    if not SPEC_PATH.exists():
        return None
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return spec


def raw_spec() -> dict[str, Any]:
    """The file as published (a deep copy), or skip the test when it is absent."""
    spec = _spec()
    if spec is None:
        pytest.skip(f"harvest-openapi.yaml not found at {SPEC_PATH}: schema validation skipped")
    return copy.deepcopy(spec)


@functools.cache
def _components(*, int32_ids: bool) -> dict[str, Any] | None:
    spec = _spec()
    if spec is None:
        return None
    components = copy.deepcopy(spec["components"])
    schemas = components["schemas"]
    for name in _LIST_WRAPPERS:  # DEVIATIONS["page-null"]
        schemas[name]["properties"]["page"]["nullable"] = True
    del schemas["TaskAssignment"]["properties"]["project"]  # DEVIATIONS["task-assignment-project"]
    # DEVIATIONS["team-report-fields"]
    row = copy.deepcopy(schemas["TimeReportsResult"])
    row["properties"] = {k: v for k, v in row["properties"].items() if k in TEAM_REPORT_FIELDS}
    schemas["TeamTimeReportResult"] = row
    report = copy.deepcopy(schemas["TimeReportsResults"])
    report["properties"]["results"]["items"] = {"$ref": "#/components/schemas/TeamTimeReportResult"}
    schemas["TeamTimeReportResults"] = report
    if not int32_ids:  # DEVIATIONS["int32-ids"]
        for schema in schemas.values():
            for prop in (schema.get("properties") or {}).values():
                if prop.get("format") == "int32":
                    del prop["format"]
    _require_every_property(components)
    return {"components": components}


def _require_every_property(node: Any) -> None:
    """Real responses carry every documented field (§11 row 3); the file lists none as required."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            node["required"] = sorted(set(node.get("required", [])) | set(node["properties"]))
        for value in node.values():
            _require_every_property(value)
    elif isinstance(node, list):
        for value in node:
            _require_every_property(value)


@functools.cache
def _validator(schema_name: str, *, int32_ids: bool) -> OAS30Validator | None:
    components = _components(int32_ids=int32_ids)
    if components is None:
        return None
    schema = {"$ref": f"#/components/schemas/{schema_name}", **components}
    OAS30Validator.check_schema(schema)
    return OAS30Validator(schema, format_checker=oas30_format_checker)


def assert_schema(instance: Any, schema_name: str, *, int32_ids: bool = True, optional: bool = False) -> None:
    """Validate ``instance`` against ``#/components/schemas/<schema_name>`` of the file (patched as
    ``DEVIATIONS`` lists), requiring every documented property. Without the file the test skips,
    or with ``optional=True`` goes on (for tests that check behaviour too)."""
    validator = _validator(schema_name, int32_ids=int32_ids)
    if validator is None:
        if optional:
            return
        pytest.skip(f"harvest-openapi.yaml not found at {SPEC_PATH}: schema validation skipped")
    validator.validate(instance)


#: Which schema validates the 2xx answer of each (method, path template) on the user paths.
RESPONSE_SCHEMAS: dict[tuple[str, str], str] = {
    ("GET", "/v2/users"): "Users",
    ("POST", "/v2/users"): "User",
    ("GET", "/v2/users/me"): "User",
    ("GET", "/v2/users/{id}"): "User",
    ("PATCH", "/v2/users/{id}"): "User",
    ("DELETE", "/v2/users/{id}"): "User",  # DEVIATIONS["delete-body"]
    ("GET", "/v2/users/{id}/teammates"): "Teammates",
    ("PATCH", "/v2/users/{id}/teammates"): "TeammatesPatchResponse",
    ("GET", "/v2/users/{id}/billable_rates"): "BillableRates",
    ("POST", "/v2/users/{id}/billable_rates"): "BillableRate",
    ("GET", "/v2/users/{id}/billable_rates/{rate_id}"): "BillableRate",
    ("GET", "/v2/users/{id}/cost_rates"): "CostRates",
    ("POST", "/v2/users/{id}/cost_rates"): "CostRate",
    ("GET", "/v2/users/{id}/cost_rates/{rate_id}"): "CostRate",
    ("GET", "/v2/users/{id}/project_assignments"): "ProjectAssignments",
    ("GET", "/v2/users/me/project_assignments"): "ProjectAssignments",
    ("GET", "/v2/user_assignments"): "UserAssignments",
    ("GET", "/v2/projects/{pid}/user_assignments"): "UserAssignments",
    ("POST", "/v2/projects/{pid}/user_assignments"): "UserAssignment",
    ("GET", "/v2/projects/{pid}/user_assignments/{id}"): "UserAssignment",
    ("PATCH", "/v2/projects/{pid}/user_assignments/{id}"): "UserAssignment",
    ("DELETE", "/v2/projects/{pid}/user_assignments/{id}"): "UserAssignment",  # DEVIATIONS["delete-body"]
    ("GET", "/v2/roles"): "Roles",
    ("POST", "/v2/roles"): "Role",
    ("GET", "/v2/roles/{id}"): "Role",
    ("PATCH", "/v2/roles/{id}"): "Role",
    ("DELETE", "/v2/roles/{id}"): "Role",  # DEVIATIONS["delete-body"]
    ("GET", "/v2/company"): "Company",
    ("PATCH", "/v2/company"): "Company",
    ("GET", "/v2/clients"): "Clients",
    ("GET", "/v2/clients/{id}"): "Client",
    ("GET", "/v2/projects"): "Projects",
    ("GET", "/v2/projects/{id}"): "Project",
    ("GET", "/v2/tasks"): "Tasks",
    ("GET", "/v2/tasks/{id}"): "Task",
    ("GET", "/v2/projects/{pid}/task_assignments"): "TaskAssignments",
    ("GET", "/v2/time_entries"): "TimeEntries",
    ("POST", "/v2/time_entries"): "TimeEntry",
    ("GET", "/v2/time_entries/{id}"): "TimeEntry",
    ("PATCH", "/v2/time_entries/{id}"): "TimeEntry",
    ("DELETE", "/v2/time_entries/{id}"): "TimeEntry",  # DEVIATIONS["delete-body"]
    ("PATCH", "/v2/time_entries/{id}/restart"): "TimeEntry",
    ("PATCH", "/v2/time_entries/{id}/stop"): "TimeEntry",
    ("GET", "/v2/expenses"): "Expenses",
    ("POST", "/v2/expenses"): "Expense",
    ("GET", "/v2/expenses/{id}"): "Expense",
    ("DELETE", "/v2/expenses/{id}"): "Expense",  # DEVIATIONS["delete-body"]
    ("GET", "/v2/reports/time/team"): "TeamTimeReportResults",  # DEVIATIONS["team-report-fields"]
}
