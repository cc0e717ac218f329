"""A plain-httpx caller for the conformance suite: real HTTP to the live sandbox, and every 2xx
answer on a user path validated against harvest-openapi.yaml (``sandbox_openapi.RESPONSE_SCHEMAS``).

``tests/sandbox`` is not a package: with an ``__init__.py`` mypy would see two modules named
``sandbox`` (this folder and ``bench/sandbox.py``). Its helper modules are therefore top-level and
named ``sandbox_*`` to stay unique.

Also the registries that prove coverage: ``row`` marks a test as exercising a row of
docs/harvest-api.md's §9 table, ``gotcha`` one of the §8 gotchas; the suite fails if a row or
gotcha has no test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from sandbox_openapi import RESPONSE_SCHEMAS, assert_schema

F = TypeVar("F", bound=Callable[..., Any])

#: §9, one entry per method and path (identity-service rows use their id.getharvest.com paths).
SECTION_9: tuple[tuple[str, str], ...] = (
    ("GET", "/v2/users"),
    ("GET", "/v2/users/me"),
    ("GET", "/v2/users/{id}"),
    ("POST", "/v2/users"),
    ("PATCH", "/v2/users/{id}"),
    ("DELETE", "/v2/users/{id}"),
    ("GET", "/v2/users/{id}/teammates"),
    ("PATCH", "/v2/users/{id}/teammates"),
    ("GET", "/v2/users/{id}/billable_rates"),
    ("POST", "/v2/users/{id}/billable_rates"),
    ("GET", "/v2/users/{id}/billable_rates/{rate_id}"),
    ("GET", "/v2/users/{id}/cost_rates"),
    ("POST", "/v2/users/{id}/cost_rates"),
    ("GET", "/v2/users/{id}/cost_rates/{rate_id}"),
    ("GET", "/v2/users/{id}/project_assignments"),
    ("GET", "/v2/users/me/project_assignments"),
    ("GET", "/v2/user_assignments"),
    ("GET", "/v2/projects/{pid}/user_assignments"),
    ("POST", "/v2/projects/{pid}/user_assignments"),
    ("GET", "/v2/projects/{pid}/user_assignments/{id}"),
    ("PATCH", "/v2/projects/{pid}/user_assignments/{id}"),
    ("DELETE", "/v2/projects/{pid}/user_assignments/{id}"),
    ("GET", "/v2/roles"),
    ("POST", "/v2/roles"),
    ("GET", "/v2/roles/{id}"),
    ("PATCH", "/v2/roles/{id}"),
    ("DELETE", "/v2/roles/{id}"),
    ("GET", "/v2/company"),
    ("PATCH", "/v2/company"),
    ("GET", "/api/v2/accounts"),
    ("POST", "/api/v2/oauth2/token"),
)
#: §8 has 17 gotchas.
GOTCHAS = tuple(range(1, 18))

COVERED_ROWS: set[tuple[str, str]] = set()
COVERED_GOTCHAS: set[int] = set()


def row(method: str, path: str) -> Callable[[F], F]:
    """Mark a test as exercising the §9 row ``method path``."""
    assert (method, path) in SECTION_9, f"not a §9 row: {method} {path}"

    def mark(test: F) -> F:
        COVERED_ROWS.add((method, path))
        return test

    return mark


def gotcha(number: int) -> Callable[[F], F]:
    """Mark a test as exercising gotcha ``number`` of §8."""
    assert number in GOTCHAS

    def mark(test: F) -> F:
        COVERED_GOTCHAS.add(number)
        return test

    return mark


class Api:
    """Sends API requests with a token's headers; validates 2xx answers of known templates."""

    def __init__(self, client: httpx.Client, headers: Callable[[str | None], dict[str, str]]) -> None:
        self.client = client
        self._headers = headers

    def call(
        self,
        method: str,
        template: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **path: int,
    ) -> httpx.Response:
        response = self.client.request(
            method,
            template.format(**path),
            params=params,
            json=json,
            headers={**self._headers(token), **(headers or {})},
        )
        schema = RESPONSE_SCHEMAS.get((method, template))
        # Without the OpenAPI file the behaviour is still checked; test_sandbox_openapi.py
        # reports the skipped validation visibly.
        if response.is_success and schema is not None:
            assert_schema(response.json(), schema, optional=True)
        return response

    def get(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", template, **kwargs)

    def post(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", template, **kwargs)

    def patch(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.call("PATCH", template, **kwargs)

    def delete(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.call("DELETE", template, **kwargs)

    def walk(self, template: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every record of a list, following ``links.next`` exactly (validating each page)."""
        records: list[dict[str, Any]] = []
        response = self.get(template, **kwargs)
        seen = set()
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            records.extend(body[key])
            following = body["links"]["next"]
            if following is None:
                return records
            assert following not in seen, "links.next repeats"
            seen.add(following)
            response = self.client.get(following, headers=self._headers(kwargs.get("token")))
            assert_schema(response.json(), RESPONSE_SCHEMAS[("GET", template)], optional=True)


def decode_cursor(url: str) -> dict[str, Any]:
    """The JSON inside a link's ``cursor`` parameter."""
    cursor = parse_qs(urlsplit(url).query)["cursor"][0]
    decoded: dict[str, Any] = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4)))
    return decoded


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
