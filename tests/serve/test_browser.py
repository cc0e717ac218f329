"""The dashboard in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``).

The browser is installed with apt when missing (never a browser build downloaded by Playwright);
without it the tests are skipped with the reason. Screenshots of every page are saved under
``.artifacts/serve/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thresher.store import ServeRecords, Store

from .conftest import ServeProcess, ServeSetup, start_serve, wait_for

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "serve"


def _install_chromium() -> str | None:
    """None when Chromium is there (installed now if need be), else why it is not."""
    if Path(CHROMIUM).exists():
        return None
    if shutil.which("apt-get") is None:
        return "no /usr/bin/chromium and no apt-get to install it"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, env=env)
        if done.returncode != 0:
            return f"installing chromium with apt failed: {done.stderr.strip()[-300:]}"
    return None if Path(CHROMIUM).exists() else "apt installed no /usr/bin/chromium"


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, and the async tests of the modules after this one need the thread's loop to themselves.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    why = _install_chromium()
    if why is not None:
        pytest.skip(why)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def served(setup: ServeSetup) -> Iterator[ServeProcess]:
    # A long interval: the first sync runs at start, later ones only when "sync now" asks.
    serve = start_serve(setup.env, "--sync-interval", "3600")
    try:
        yield serve
    finally:
        assert serve.terminate() == 0, serve.output


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _runs(setup: ServeSetup) -> int:
    with Store.open(setup.database_url) as store:
        return sum(r.outcome == "ok" for r in ServeRecords(store).recent_runs(limit=500))


def test_dashboard_pages_live_feed_and_sync_now(
    browser: Any, served: ServeProcess, setup: ServeSetup
) -> None:
    wait_for(lambda: _runs(setup) >= 1, what="the first sync")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{served.url}/")
    assert "/login" in page.url
    _shot(page, "01-login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("main")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_selector("article.connection[data-connection=env] .badge.fresh")
    assert "active" in page.inner_text("article.connection")
    _shot(page, "02-connections")

    page.goto(f"{served.url}/roster")
    active = int(page.inner_text("[data-count=active]"))
    assert active > 0
    assert page.locator("figure.chart polyline").count() == 1
    _shot(page, "03-roster")

    # The live feed, in its own tab, while a change happens in Harvest and "sync now" runs.
    feed = context.new_page()
    feed.goto(f"{served.url}/changes")
    feed.wait_for_selector("#live.fresh")
    sandbox = setup.sandbox
    user_id = next(
        u for u, user in sandbox.state.users.items() if user.is_active and user.access_roles == ["member"]
    )
    headers = {
        "Authorization": f"Bearer {sandbox.credentials.admin_token}",
        "Harvest-Account-Id": str(sandbox.credentials.account_id),
        "User-Agent": "tests (tests@example.com)",
    }
    response = httpx.patch(f"{setup.running.api_url}/users/{user_id}", json={"is_active": False},
                           headers=headers)
    assert response.status_code == 200, response.text
    before = _runs(setup)
    page.goto(f"{served.url}/")
    page.click("article.connection[data-connection=env] button[type=submit]")
    assert "is due now" in page.inner_text(".flash")
    wait_for(lambda: _runs(setup) > before, what="the sync asked for")
    row = feed.wait_for_selector("#feed tr.new", timeout=60_000)
    assert row is not None
    assert "archived" in row.inner_text()
    _shot(feed, "04-changes-live")

    def usage_shown() -> bool:
        page.goto(f"{served.url}/usage")
        return bool(page.locator("table[data-usage=harvest]").count() > 0)

    # The counts reach the store every 5 s (serve/_usage.py): reload until they have.
    wait_for(usage_shown, what="the Harvest usage table")
    assert "200" in page.inner_text("table[data-usage=harvest]")
    _shot(page, "05-usage")
    page.goto(f"{served.url}/webhooks")
    assert "Webhooks" in page.inner_text("h1")
    _shot(page, "06-webhooks")
    page.goto(f"{served.url}/connect")
    assert "Connect a Harvest account" in page.inner_text("h1")
    _shot(page, "07-connect")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{served.url}/")
    _shot(page, "08-connections-phone")

    # A POST without the form's CSRF token is refused, signed in or not.
    refused = page.request.post(f"{served.url}/connections/env/sync", form={})
    assert refused.status == 403
    forged = page.request.post(f"{served.url}/connections/env/sync", form={"csrf": "0" * 64})
    assert forged.status == 403
    content = page.content()
    assert setup.api_token not in content
    assert setup.scim_token not in content
    assert sandbox.credentials.admin_token not in content
    context.close()
