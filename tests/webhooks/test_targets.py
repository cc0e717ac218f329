"""Server-side request forgery guards at creation: https, public addresses, no credentials."""

from __future__ import annotations

import pytest

from thresher.store import Store
from thresher.webhooks import InvalidSubscriptionError, UnsafeTargetError, WebhookService, check_target


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # http only to loopback
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://100.64.0.1/hook",  # shared address space
        "https://0.0.0.0/hook",
        "https://localhost/hook",
        "https://user:pass@hooks.example.com/x",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_unsafe_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTargetError) as info:
        check_target(url, allow_private=False)
    assert info.value.exit_code == 65
    assert info.value.hint


def test_private_targets_need_the_flag_and_loopback_may_use_http() -> None:
    check_target("http://127.0.0.1:8000/hook", allow_private=True)
    check_target("https://10.1.2.3/hook", allow_private=True)
    check_target("https://93.184.215.14/hook", allow_private=False)  # a public address, not contacted
    with pytest.raises(UnsafeTargetError):
        check_target("http://10.1.2.3/hook", allow_private=True)  # still https off loopback


def test_names_resolving_to_private_addresses_are_refused(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, pytest.raises(UnsafeTargetError, match="loopback"):
        WebhookService(store).add("https://localhost:8443/hook")


def test_unknown_event_types_and_empty_filters_are_refused(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        service = WebhookService(store)
        with pytest.raises(InvalidSubscriptionError, match="unknown event type"):
            service.add("http://127.0.0.1:9/x", events=["user.exploded"], allow_private=True)
        with pytest.raises(InvalidSubscriptionError, match="filter is empty"):
            service.add("http://127.0.0.1:9/x", email_domain=" ", allow_private=True)
        assert service.list() == []
