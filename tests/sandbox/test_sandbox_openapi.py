"""The deviations from harvest-openapi.yaml that the conformance suite applies (``openapi.DEVIATIONS``)
are each checked here against the file as published: if the file is fixed, a test fails and the
patch can go."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed; only its ValidationError is used
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from sandbox_openapi import DEVIATIONS, assert_schema, raw_spec

from thresher.sandbox import Sandbox, SandboxConfig
from thresher.sandbox._render import user_dict


def _raw_validate(instance: Any, name: str) -> None:
    spec = raw_spec()
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(instance)


def _user() -> dict[str, Any]:
    sandbox = Sandbox(SandboxConfig(users=3))
    return user_dict(sandbox.state, next(iter(sandbox.state.users.values())))


def test_openapi_file_is_present() -> None:
    """Schema validation needs tests/sandbox/data/harvest-openapi.yaml."""
    assert raw_spec()["openapi"].startswith("3.0")


def test_every_deviation_has_a_reason() -> None:
    assert all(len(reason) > 40 for reason in DEVIATIONS.values())


def test_deviation_error_schema() -> None:
    assert "error-schema" in DEVIATIONS
    error = raw_spec()["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "message"}  # invented; see docs/harvest-api.md §2 instead


def test_deviation_page_null() -> None:
    assert "page-null" in DEVIATIONS
    middle = {
        "users": [],
        "per_page": 1,
        "total_pages": 3,
        "total_entries": 3,
        "next_page": None,
        "previous_page": None,
        "page": None,
        "links": {
            "first": "http://x/v2/users?page=1",
            "next": None,
            "previous": None,
            "last": "http://x/v2/users?page=3",
        },
    }
    with pytest.raises(jsonschema.ValidationError):
        _raw_validate(middle, "Users")
    assert_schema(middle, "Users")


def test_deviation_int32_ids() -> None:
    assert "int32-ids" in DEVIATIONS
    user = {**_user(), "id": 2**40}
    with pytest.raises(jsonschema.ValidationError, match="int32"):
        _raw_validate(user, "User")
    assert_schema(user, "User", int32_ids=False)


def test_deviation_delete_body() -> None:
    assert "delete-body" in DEVIATIONS
    spec = raw_spec()
    for path in (
        "/users/{userId}",
        "/roles/{roleId}",
        "/projects/{projectId}/user_assignments/{userAssignmentId}",
    ):
        assert "content" not in spec["paths"][path]["delete"]["responses"][200], path


def test_deviation_task_assignment_project() -> None:
    assert "task-assignment-project" in DEVIATIONS
    assert "project" in raw_spec()["components"]["schemas"]["TaskAssignment"]["properties"]


def test_deviation_teammates_per_page() -> None:
    assert "teammates-per-page" in DEVIATIONS
    example = raw_spec()["paths"]["/users/{userId}/teammates"]["get"]["responses"][200]["content"]
    assert example["application/json"]["example"]["per_page"] == 100


def test_deviation_team_report_fields() -> None:
    assert "team-report-fields" in DEVIATIONS
    properties = raw_spec()["components"]["schemas"]["TimeReportsResult"]["properties"]
    assert {"client_id", "project_id", "task_id", "user_id"} <= set(properties)  # one schema, four reports
    example = raw_spec()["paths"]["/reports/time/team"]["get"]["responses"][200]["content"]
    row = example["application/json"]["example"]["results"][0]
    assert "client_id" not in row
    assert_schema({**_page("results"), "results": [row]}, "TeamTimeReportResults")


def test_deviation_embedded_assignments() -> None:
    assert "embedded-assignments" in DEVIATIONS
    entry = raw_spec()["components"]["schemas"]["TimeEntry"]["properties"]
    assert entry["user_assignment"]["anyOf"][0]["$ref"] == "#/components/schemas/UserAssignment"
    assert entry["task_assignment"]["anyOf"][0]["$ref"] == "#/components/schemas/TaskAssignment"


def _page(key: str) -> dict[str, Any]:
    return {key: [], "per_page": 2000, "total_pages": 1, "total_entries": 1, "next_page": None,
            "previous_page": None, "page": 1,
            "links": {"first": "http://x/?page=1", "next": None, "previous": None, "last": "http://x/?page=1"}}


def test_validation_requires_every_documented_field() -> None:
    user = _user()
    assert_schema(user, "User")
    del user["avatar_url"]
    with pytest.raises(jsonschema.ValidationError, match="avatar_url"):
        assert_schema(user, "User")
