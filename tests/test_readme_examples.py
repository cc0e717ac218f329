"""Every Python example of the README's "Using thresher as a library" section, run against a
sandbox over HTTP with the environment a reader would have: the ``HARVEST_*`` variables, a SQLite
store in ``THRESHER_DATABASE_URL`` and a connection saved as ``acme`` by ``thresher login``.

An example that defines an ASGI ``app`` (the bridge mounted in another app) is served and asked to
provision a user at its mount path, the way an identity provider would.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from thresher._serving import serve_in_thread
from thresher.cli import main
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import TokenStore
from thresher.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "Using thresher as a library"
UA = "thresher-readme-tests (tests@example.com)"


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


EXAMPLES = python_blocks(section(README.read_text(encoding="utf-8"), SECTION))


def test_the_section_follows_everyday_commands_and_has_examples() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings[headings.index("Everyday commands") + 1] == SECTION
    assert len(EXAMPLES) >= 5


@pytest.fixture
def reader_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    """A sandbox, the reader's environment pointing at it, and ``thresher login --name acme``."""
    with run_sandbox(Sandbox(SandboxConfig(users=6, seed=8, rate_limit=None))) as running:
        creds = running.sandbox.credentials
        env = {
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'thresher.db'}",
            "THRESHER_SECRET_KEY": "readme-examples-secret-key",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code: object = 0
        with CliRunner().isolation(input=creds.admin_token + "\n", env=env) as (_out, err, _):
            try:
                main(["login", "--name", "acme", "--token-stdin"])
            except SystemExit as exc:
                code = exc.code
            stderr = err.getvalue().decode()
        assert code in (0, None), stderr
        yield running


def _provision_through(app: Any, mount: str, running: RunningSandbox) -> None:
    """Serve ``app`` and create a user through the SCIM bridge mounted at ``mount``."""
    with Store.open() as store:
        _, token = TokenStore(store).create("idp")
    email = "readme.example@example.com"
    with serve_in_thread(app, name="readme-example") as port, httpx.Client(
        base_url=f"http://127.0.0.1:{port}{mount}/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as idp:
        created = idp.post("/Users", json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "name": {"givenName": "Read", "familyName": "Me"},
        })
        assert created.status_code == 201, created.text
        assert created.json()["meta"]["location"].endswith(f"{mount}/scim/v2/Users/{created.json()['id']}")
        assert idp.get(f"/Users/{created.json()['id']}").json()["userName"] == email
    assert email in {u.email for u in running.sandbox.state.users.values()}
    with Store.open() as store:
        (used,) = TokenStore(store).list_tokens()
    # The bridge's lifespan ran inside the host app's: its shutdown saved the request counts.
    assert sum(used.counts.values()) == 2


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i + 1}" for i in range(len(EXAMPLES))])
def test_example_runs_against_a_sandbox(
    code: str, reader_env: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"{README.name}:{SECTION}", "exec"), namespace)  # noqa: S102
    if "app" in namespace:
        mount = re.search(r'Mount\("(/[^"]*)"', code)
        assert mount, "an embedding example mounts the bridge at a path"
        try:
            _provision_through(namespace["app"], mount.group(1), reader_env)
        finally:
            store = namespace.get("store")
            if isinstance(store, Store):
                store.close()
    else:
        admin = reader_env.sandbox.user_for_token(reader_env.sandbox.credentials.admin_token)
        assert admin is not None
        assert admin.email in printed.getvalue()  # every other example shows data from Harvest
    # e.g. the embedded bridge's background sync, which logs its failures and carries on
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
