"""Configuration: environment, required User-Agent, account id."""

from __future__ import annotations

import httpx
import pytest

from thresher.harvest import (
    DEFAULT_BASE_URL,
    DEFAULT_ID_URL,
    AsyncHarvest,
    ConfigurationError,
    Harvest,
    HarvestSettings,
    LimiterRegistry,
)

from .fakes import TOKEN, UA, FakeHarvest, make_client, user_json

ENV = {"HARVEST_ACCESS_TOKEN": TOKEN, "HARVEST_ACCOUNT_ID": "123",
       "HARVEST_USER_AGENT": "MyApp (ops@example.com)"}


@pytest.mark.parametrize("agent", ["MyApp (ops@example.com)", "MyApp (https://example.com/contact)",
                                   "Acme Sync/1.2 (+https://acme.example)", "bot admin@acme.io"])
def test_user_agent_with_app_and_contact_is_accepted(agent: str) -> None:
    assert HarvestSettings(user_agent=agent).user_agent == agent


@pytest.mark.parametrize(
    ("agent", "problem"),
    [("", "No User-Agent"), ("   ", "No User-Agent"), ("MyApp", "no contact"),
     ("python-httpx/0.28.1", "no contact"), ("(ops@example.com)", "does not name"),
     ("ops@example.com", "does not name"), ("MyApp (ops@example.com)\r\nX-Evil: 1", "control")],
)
def test_unusable_user_agent_is_refused_with_a_hint(agent: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as info:
        HarvestSettings(user_agent=agent)
    assert info.value.hint is not None
    assert "(ops@example.com)" in info.value.hint


def test_client_refuses_to_start_without_user_agent() -> None:
    with pytest.raises(ConfigurationError, match="User-Agent"):
        AsyncHarvest(access_token=TOKEN, account_id=1, user_agent="")
    with pytest.raises(ConfigurationError, match="User-Agent"):
        Harvest(access_token=TOKEN, account_id=1, user_agent="nobody")


def test_from_env_reads_the_variables_and_defaults() -> None:
    settings = HarvestSettings.from_env(ENV)
    assert settings.access_token == TOKEN
    assert settings.account_id == 123
    assert settings.user_agent == "MyApp (ops@example.com)"
    assert settings.base_url == DEFAULT_BASE_URL == "https://api.harvestapp.com/v2"
    assert settings.id_url == DEFAULT_ID_URL == "https://id.getharvest.com"


def test_from_env_urls_and_overrides() -> None:
    env = {**ENV, "HARVEST_BASE_URL": "http://127.0.0.1:8080/v2/", "HARVEST_ID_URL": "http://127.0.0.1:8080"}
    settings = HarvestSettings.from_env(env, account_id=999, access_token=None, time_scale=0.1)
    assert settings.base_url == "http://127.0.0.1:8080/v2"
    assert settings.id_url == "http://127.0.0.1:8080"
    assert settings.account_id == 999  # an override wins
    assert settings.access_token == TOKEN  # a None override means "not given"
    assert settings.window == pytest.approx(1.5)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert HarvestSettings.from_env().account_id == 123


@pytest.mark.parametrize(
    ("env", "problem"),
    [({"HARVEST_ACCESS_TOKEN": TOKEN}, "HARVEST_USER_AGENT"),
     ({**ENV, "HARVEST_ACCOUNT_ID": "abc"}, "account id"),
     ({**ENV, "HARVEST_BASE_URL": "api.harvestapp.com"}, "not an http")],
)
def test_from_env_problems(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        HarvestSettings.from_env(env)


def test_settings_limits_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="per_page"):
        HarvestSettings(user_agent=UA, per_page=5000)
    with pytest.raises(ConfigurationError, match="rate_window"):
        HarvestSettings(user_agent=UA, rate_window=0)


def test_no_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="access token"):
        AsyncHarvest(account_id=1, user_agent=UA)


async def test_no_account_id_is_reported_before_sending() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", user_json())
    async with make_client(fake, account_id=None) as harvest:
        with pytest.raises(ConfigurationError, match="account id") as info:
            await harvest.me()
    assert info.value.hint is not None
    assert "list_accounts" in info.value.hint
    assert fake.requests == []


async def test_keyword_settings_override_a_settings_object() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", user_json())
    base = HarvestSettings.from_env(ENV)
    async with AsyncHarvest(base, account_id=77, transport=httpx.MockTransport(fake),
                            limiter_registry=LimiterRegistry()) as harvest:
        await harvest.me()
    assert fake.requests[0].headers["Harvest-Account-Id"] == "77"
