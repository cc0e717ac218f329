"""Generated bodies and queries never get a 5xx, and every error is a SCIM Error document."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thresher.sandbox import SandboxConfig
from thresher.store import Store

from .conftest import make_harness

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
HARVEST = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"

attrs = st.sampled_from(
    [
        "userName",
        "externalId",
        "emails.value",
        'emails[type eq "work"].value',
        "name.givenName",
        "active",
        "displayName",
        "timezone",
        "id",
        "meta.created",
        "nickName",
        "groups.value",
        f"{HARVEST}:accessRoles",
        "members.value",
        "title",
    ]
)
ops = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Eq"])
values = st.one_of(
    st.text(max_size=12).map(json.dumps),
    st.sampled_from(["true", "false", "null", "12", "1.5"]),
    st.text(max_size=6),
)
comparisons = st.builds(lambda a, o, v: f"{a} {o} {v}", attrs, ops, values) | attrs.map(lambda a: f"{a} pr")
filters = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        inner.map(lambda a: f"not ({a})"),
    ),
    max_leaves=4,
) | st.text(max_size=30)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
user_keys = st.sampled_from(
    [
        "userName",
        "name",
        "active",
        "emails",
        "timezone",
        "externalId",
        "schemas",
        "id",
        "groups",
        HARVEST,
        "displayName",
        "password",
        "meta",
    ]
)
base_user = st.fixed_dictionaries(
    {
        "schemas": st.just([USER]),
        "userName": st.emails(),
        "name": st.fixed_dictionaries(
            {"givenName": st.text(min_size=1, max_size=8), "familyName": st.text(min_size=1, max_size=8)}
        ),
    },
    optional={
        "active": st.booleans() | st.sampled_from(["False", "true", "yes"]),
        "timezone": st.sampled_from(["Europe/Paris", "America/Chicago", "Mars/Olympus", ""]),
        "externalId": st.text(max_size=8),
        HARVEST: st.fixed_dictionaries(
            {},
            optional={
                "accessRoles": st.lists(
                    st.sampled_from(["member", "manager", "administrator", "project_creator", "x"]),
                    max_size=3,
                ),
                "weeklyCapacityHours": st.floats(-10, 200, allow_nan=False) | st.integers(),
                "contractor": st.booleans(),
            },
        ),
    },
)
user_bodies = base_user | st.dictionaries(user_keys, json_values, max_size=6)
patch_bodies = (
    st.fixed_dictionaries(
        {
            "schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
            "Operations": st.lists(
                st.dictionaries(
                    st.sampled_from(["op", "path", "value"]),
                    st.sampled_from(["add", "Replace", "remove", "move"]) | attrs | json_values,
                    max_size=3,
                ),
                max_size=3,
            ),
        }
    )
    | json_values
)


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["schemas"] == [ERROR]
        assert body["status"] == str(response.status_code)


def _examples() -> list[tuple[str, Any, Any, dict[str, Any], Any]]:
    """Generated requests, drawn up front: the bridge is async and hypothesis drives sync code.
    (So no shrinking: a failure reports the whole request, which is small anyway.)"""
    seen: list[tuple[str, Any, Any, dict[str, Any], Any]] = []

    @settings(
        max_examples=80,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        flt=filters,
        start=st.integers(-3, 50) | st.text(max_size=3),
        count=st.integers(-3, 50) | st.text(max_size=3),
        body=user_bodies,
        patch=patch_bodies,
    )
    def run(flt: str, start: Any, count: Any, body: dict[str, Any], patch: Any) -> None:
        seen.append((flt, start, count, body, patch))

    run()
    return seen


async def test_generated_requests(store: Store) -> None:
    examples = _examples()
    async for h in make_harness(store, SandboxConfig(users=4, seed=8, rate_limit=None)):
        uid = (await h.http.get("/Users")).json()["Resources"][1]["id"]
        for flt, start, count, body, patch in examples:
            _check(await h.http.get("/Users", params={"filter": flt, "startIndex": start, "count": count}))
            _check(await h.http.get("/Groups", params={"filter": flt}))
            if isinstance(body.get("userName"), str):
                body["userName"] = f"g{uuid.uuid4().hex[:8]}.{body['userName']}"
            _check(await h.http.post("/Users", json=body))
            _check(await h.http.patch(f"/Users/{uid}", json=patch))
            _check(await h.http.put(f"/Users/{uid}", json=body))
        _check(
            await h.http.post("/Users", content=b"{not json", headers={"Content-Type": "application/json"})
        )
        _check(await h.http.post("/Users", content=b"<xml/>", headers={"Content-Type": "text/xml"}))
