"""``thresher connections test`` (like ``gh auth status``) and ``thresher accounts list``, against a
sandbox over HTTP: who the token is, which account, admin or not, the token's kind and expiry,
the rate limit in effect; 77 for a refused token, 78 for no connection."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import httpx

from provision.conftest import SECRET, UA, Cli
from thresher.connections import Credentials, SecretBox, save_connection
from thresher.harvest import HarvestSettings, OAuthApp

NO_ENV_TOKEN: dict[str, str | None] = {"HARVEST_ACCESS_TOKEN": None, "HARVEST_ACCOUNT_ID": None}


def _admin(cli: Cli) -> tuple[int, str]:
    state = cli.sandbox.state
    user = next(u for u in state.users.values() if u.is_active and u.access_roles[0] == "administrator")
    return user.id, user.email


def test_the_environment_connection_says_who_and_where(cli: Cli) -> None:
    uid, email = _admin(cli)
    account = cli.sandbox.credentials.account_id
    text = cli("connections", "test").stdout
    assert "Connection env (from the HARVEST_* variables): the token works." in text
    assert re.search(rf"logged in as +.* <{re.escape(email)}> \(user id {uid}\)", text)
    assert re.search(rf"account +{account} \(", text)
    assert re.search(r"administrator +yes", text)
    assert re.search(r"rate limit +100 requests per 15 s \(Harvest's limit\)", text)
    assert re.search(rf"accounts +1 reachable: {account} .* \(this one\)", text)
    assert cli.sandbox.credentials.admin_token not in text

    report = cli.json("connections", "test")
    assert report["user"]["id"] == uid
    assert report["administrator"] is True
    assert report["account_id"] == account
    assert report["token"] == {"kind": "environment", "expires_at": None, "refreshes": False}
    assert report["accounts"] == [
        {"id": account, "name": report["account_name"], "product": "harvest", "connected": True}
    ]
    # HARVEST_RATE_LIMIT is the limit in effect, and says so.
    scaled = cli("connections", "test", "--json", env={"HARVEST_RATE_LIMIT": "100/1.5s"}).stdout
    assert '"window_seconds": 1.5' in scaled
    assert '"source": "HARVEST_RATE_LIMIT"' in scaled


def test_a_saved_personal_token_of_a_member(cli: Cli) -> None:
    member = cli.sandbox.credentials.member_token
    cli("login", "--name", "mem", "--token-stdin", input=member + "\n", env=NO_ENV_TOKEN)
    result = cli("connections", "test", "mem", env=NO_ENV_TOKEN)
    assert "Connection mem (saved, default): the token works." in result.stdout
    assert re.search(r"token +personal access token \(no expiry\)", result.stdout)
    assert re.search(r"administrator +no: Harvest refuses", result.stdout)
    assert member not in result.stdout + result.stderr
    report = cli.json("connections", "test", "mem")
    assert report["token"]["kind"] == "pat"
    assert report["administrator"] is False
    assert "administrator" not in report["access_roles"]


def test_an_oauth_connection_shows_its_expiry(cli: Cli) -> None:
    creds = cli.sandbox.credentials
    authorize = httpx.get(
        f"{cli.running.id_url}/oauth2/authorize",
        params={"client_id": creds.oauth_client_id, "response_type": "code", "state": "s"},
    )
    code = parse_qs(urlparse(authorize.headers["location"]).query)["code"][0]
    app = OAuthApp(creds.oauth_client_id, creds.oauth_client_secret, cli.running.id_url, UA)
    token = asyncio.run(app.exchange_code(code))
    assert token.expires_at is not None
    settings = HarvestSettings(
        access_token=token.access_token, account_id=creds.account_id, user_agent=UA,
        base_url=cli.running.api_url, id_url=cli.running.id_url,
    )
    saved = Credentials(
        kind="oauth", access_token=token.access_token, user_agent=UA,
        refresh_token=token.refresh_token, expires_at=token.expires_at,
        client_id=creds.oauth_client_id, client_secret=creds.oauth_client_secret, scope=token.scope,
    )
    with cli.store() as store:
        save_connection(store, "oauth", settings, saved,
                        box=SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET}))

    report = cli.json("connections", "test", "oauth")
    assert report["token"]["kind"] == "oauth"
    assert report["token"]["refreshes"] is True
    expires = dt.datetime.fromisoformat(report["token"]["expires_at"].replace("Z", "+00:00"))
    assert expires > dt.datetime.now(dt.UTC)
    text = cli("connections", "test", "oauth").stdout
    assert re.search(r"token +OAuth access token, expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "refreshed automatically" in text
    for secret in (token.access_token, token.refresh_token or "", creds.oauth_client_secret):
        assert secret not in text


def test_a_refused_token_exits_77_and_no_connection_exits_78(cli: Cli) -> None:
    refused = cli("connections", "test", env={"HARVEST_ACCESS_TOKEN": "1.pt.not-a-real-token"}, ok=False)
    assert refused.exit_code == 77
    assert "not-a-real-token" not in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert "set a new HARVEST_ACCESS_TOKEN" in refused.stderr
    listing = cli("accounts", "list", env={"HARVEST_ACCESS_TOKEN": "1.pt.not-a-real-token"}, ok=False)
    assert listing.exit_code == 77
    assert "set a new HARVEST_ACCESS_TOKEN" in listing.stderr
    unknown = cli("connections", "test", "nope", ok=False)
    assert unknown.exit_code == 78
    assert "no connection named 'nope'" in unknown.stderr
    # No variables and no store: nothing to test, and no store is created for saying so.
    elsewhere = cli.tmp / "elsewhere.db"
    nothing = cli("connections", "test", env={**NO_ENV_TOKEN, "THRESHER_DATABASE_URL": f"sqlite:///{elsewhere}"},
                  ok=False)
    assert nothing.exit_code == 78
    assert "thresher login" in nothing.stderr
    assert not elsewhere.exists()


def test_accounts_list_marks_the_connected_one(cli: Cli) -> None:
    creds = cli.sandbox.credentials
    piped = cli("accounts", "list").stdout.splitlines()
    assert piped[0].split("\t") == ["id", "name", "product", "connected"]
    assert [line.split("\t")[0] for line in piped[1:]] == [str(creds.account_id)]
    assert piped[1].endswith("\tharvest\t*")
    everything = cli.json("accounts", "list", "--all-products")
    assert {(a["product"], a["connected"]) for a in everything} == {("harvest", True), ("forecast", False)}
    forecast = next(a for a in everything if a["product"] == "forecast")
    assert forecast["id"] == creds.forecast_account_id
