"""One email rule everywhere: simple lower-casing (docs/harvest-api.md §8.2), never Unicode case
folding, so ``straße@example.com`` and ``strasse@example.com`` are two people in the mirror, the
lookups, the roster, the SCIM bridge and the sandbox.

The CLI runs in subprocesses against a sandbox served over HTTP; the first sync and the SCIM
bridge run in this process on the same store.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thresher.connections import open_client, resolve
from thresher.harvest import LimiterRegistry, normalize_email
from thresher.provision import WriteThrough
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

UA = "thresher-email-tests (tests@example.com)"
SHARP = "straße@example.com"
DOUBLE = "strasse@example.com"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_normalize_email_lower_cases_and_never_folds() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert normalize_email("STRASSE@example.com") == DOUBLE
    assert normalize_email("Straße@Example.com") == SHARP
    assert normalize_email(SHARP) != normalize_email(DOUBLE)


class Site:
    def __init__(self, running: RunningSandbox, env: dict[str, str]) -> None:
        self.running = running
        self.env = env

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox

    def thresher(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "thresher", *args], env=self.env, capture_output=True,
            text=True, timeout=90, check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.thresher(*args, "--json").stdout)

    def user(self, email: str) -> Any:
        found = [u for u in self.sandbox.state.users.values() if u.email == email]
        assert len(found) == 1, email
        return found[0]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with run_sandbox(Sandbox(SandboxConfig(users=6, seed=8, rate_limit=None))) as running:
        creds = running.sandbox.credentials
        harvest_env = {
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'thresher.db'}",
            "THRESHER_SECRET_KEY": "test-secret-key-for-thresher-emails",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        for name, value in harvest_env.items():  # this process is the SCIM bridge's host
            monkeypatch.setenv(name, value)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
        yield Site(running, {**inherited, **harvest_env, "COLUMNS": "200"})


async def _sync(store: Store) -> None:
    async with open_client(store, "env", limiter_registry=LimiterRegistry()) as client:
        await RosterSync(store, client, resolve(store, "env").connection, SyncOptions()).run()


async def _scim(store: Store, calls: list[tuple[str, str, dict[str, Any] | None]]) -> list[httpx.Response]:
    connection = store.get_connection("env")
    _, secret = TokenStore(store).create("idp")
    async with open_client(store, "env", limiter_registry=LimiterRegistry()) as client:
        bridge = ScimBridge(WriteThrough(client, store, connection), TokenStore(store))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app), base_url="http://bridge.test/scim/v2",
            headers={"Authorization": f"Bearer {secret}"},
        ) as http:
            return [await http.request(method, path, json=body) for method, path, body in calls]


def _eq(email: str) -> str:
    return f'/Users?filter=userName eq "{email}"'


def test_strasse_and_strasse_with_sharp_s_are_two_people(site: Site, tmp_path: Path) -> None:
    created = httpx.post(
        f"{site.running.api_url}/users",
        json={"first_name": "Sam", "last_name": "Strasse", "email": DOUBLE},
        headers={
            "Authorization": f"Bearer {site.sandbox.credentials.admin_token}",
            "Harvest-Account-Id": str(site.sandbox.credentials.account_id), "User-Agent": UA,
        },
    )
    assert created.status_code == 201, created.text
    double_id = created.json()["id"]

    # SCIM: the other address is no conflict, and each filter finds its own person only.
    with Store.open(site.env["THRESHER_DATABASE_URL"]) as store:
        asyncio.run(_sync(store))
        before, post, sharp, double = asyncio.run(_scim(store, [
            ("GET", _eq(SHARP), None),
            ("POST", "/Users", {
                "schemas": [SCIM_USER], "userName": SHARP,
                "name": {"givenName": "Anna", "familyName": "Straße"},
                "emails": [{"value": SHARP, "primary": True}],
            }),
            ("GET", _eq(SHARP), None),
            ("GET", _eq(DOUBLE.upper()), None),
        ]))
    assert before.json()["totalResults"] == 0
    assert post.status_code == 201, post.text
    sharp_id = site.user(SHARP).id
    assert [r["userName"] for r in sharp.json()["Resources"]] == [SHARP]
    assert [r["id"] for r in sharp.json()["Resources"]] == [str(sharp_id)]
    assert [r["id"] for r in double.json()["Resources"]] == [str(double_id)]

    # The roster: a row for one renames that one, never the other.
    roster = tmp_path / "roster.csv"
    roster.write_text(f"email,first_name,last_name\n{SHARP},Anna,Straße-Neu\n", encoding="utf-8")
    applied = site.json("apply", str(roster), "--yes")  # syncs, plans, then applies the plan
    changes = [(c["action"], c["user_id"]) for c in applied["changes"]]
    assert changes == [("update", sharp_id)], applied
    assert (site.user(SHARP).first_name, site.user(SHARP).last_name) == ("Anna", "Straße-Neu")
    assert (site.user(DOUBLE).first_name, site.user(DOUBLE).last_name) == ("Sam", "Strasse")

    # Lookups by email: each address is its own person, in any case.
    assert site.json("users", "show", "STRASSE@example.com")["id"] == double_id
    assert site.json("users", "show", SHARP)["id"] == sharp_id

    site.thresher("users", "archive", SHARP)
    assert site.user(SHARP).is_active is False
    assert site.user(DOUBLE).is_active is True
