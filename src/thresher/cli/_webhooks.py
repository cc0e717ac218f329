"""``thresher webhooks ...``: subscriptions, the dispatcher, and deliveries (docs/webhooks.md)."""

# Heavy stacks (SQLAlchemy, httpx, cryptography) are imported inside the functions that use them,
# so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._console import UsageError, confirm, err_console, out, print_json, refuse_unconfirmed
from ._options import DATABASE_URL, YES, json_option
from ._plumbing import open_store, read_store
from ._sync import parse_since

if TYPE_CHECKING:
    from thresher.store import StoredDelivery, StoredSubscription
    from thresher.webhooks import WebhookService

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Push every roster change to other systems: subscriptions, the dispatcher, deliveries.",
    no_args_is_help=True,
)

_CONNECTION = typer.Option(
    None, "--connection", "-c", help="Only this connection's events (default: every connection)."
)
_EVENTS = typer.Option(
    None,
    "--event",
    "-e",
    help="Event type or group, repeatable: user.created... user.*, role.*, teammates.changed, "
    "sync.failed, credentials.expired, rate_limit.exhausted, subscription.disabled, "
    "connection.paused, * "
    "(default: user.*, role.*, teammates.changed).",
)
_ACCESS_ROLE = typer.Option(None, "--access-role", help="Only users with this access role.")
_ROLE = typer.Option(None, "--role", help="Only users with this role (and role events of it).")
_EMAIL_DOMAIN = typer.Option(None, "--email-domain", help="Only users whose email is at this domain.")
_FORMAT = typer.Option(None, "--format", help="standard (signed JSON) or slack (a Slack incoming webhook).")
_PRIVATE = typer.Option(
    None,
    "--allow-private-targets/--no-allow-private-targets",
    help="Allow URLs on private, loopback or link-local addresses (refused by default: SSRF).",
)
_DELIVERY_IDS = typer.Argument(None, help="Delivery ids to send again.")
_SUBSCRIPTION = typer.Argument(..., help="The subscription's id (see 'thresher webhooks list').")


@contextlib.contextmanager
def _service(database_url: str | None, *, create: bool = False) -> Iterator[WebhookService]:
    from thresher.webhooks import WebhookService

    store = open_store(database_url) if create else read_store(database_url)
    try:
        yield WebhookService(store)
    finally:
        store.close()


def _time(value: str | None, option: str) -> dt.datetime | int | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except ThresherError as exc:
        raise UsageError(str(exc).replace("--since", option), hint=exc.hint) from None


def _subscription_row(sub: StoredSubscription) -> list[str]:
    from thresher.webhooks import redacted_url

    url = redacted_url(sub.url) if sub.format == "slack" else sub.url
    state = "enabled" if sub.enabled else "disabled"
    return [str(sub.id), url, ", ".join(sub.kinds), sub.format, state, sub.description or ""]


def _subscription_json(sub: StoredSubscription) -> dict[str, Any]:
    from thresher.webhooks import redacted_url

    data = sub.as_dict()
    if sub.format == "slack":  # a Slack webhook URL is itself a secret
        data["url"] = redacted_url(sub.url)
    return data


def _print_rows(headers: list[str], rows: list[list[str]]) -> None:
    import sys

    if not sys.stdout.isatty():
        out.print("\t".join(headers), markup=False, highlight=False, soft_wrap=True)
        for row in rows:
            out.print("\t".join(row), markup=False, highlight=False, soft_wrap=True)
        return
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@webhooks_app.command("add")
def add(
    url: str = typer.Argument(..., help="Where to POST events (https; http only to loopback)."),
    connection: str | None = _CONNECTION,
    events: list[str] | None = _EVENTS,
    access_role: str | None = _ACCESS_ROLE,
    role: str | None = _ROLE,
    email_domain: str | None = _EMAIL_DOMAIN,
    description: str | None = typer.Option(None, "--description", "-d", help="What it is for."),
    fmt: str | None = _FORMAT,
    allow_private: bool | None = _PRIVATE,
    disabled: bool = typer.Option(False, "--disabled", help="Make it disabled (enable with update)."),
    replay_from: str | None = typer.Option(
        None, "--from", help="Also send past changes from this time (ISO, 2h, 7d, #EVENT_ID)."
    ),
    json_out: bool = json_option("the subscription and its secret"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Subscribe a URL to events. Its signing secret is shown once; only a sealed copy is kept.

    Example: thresher webhooks add https://hr.example.com/hooks -e user.* --email-domain example.com
    """
    with _service(database_url, create=True) as service:
        sub, secret, replayed = service.add(
            url,
            connection=connection,
            events=events,
            access_role=access_role,
            role=role,
            email_domain=email_domain,
            description=description,
            fmt=fmt or "standard",
            allow_private=bool(allow_private),
            enabled=not disabled,
            replay_from=_time(replay_from, "--from"),
        )
    if json_out:
        print_json({**_subscription_json(sub), "secret": secret, "replayed": replayed})
        return
    out.print(
        f"Subscription [bold]{sub.id}[/] added. Its signing secret; copy it now, thresher "
        "cannot show it again:"
    )
    out.print(secret, markup=False, highlight=False, soft_wrap=True)
    if replay_from is not None:
        out.print(f"{replayed} past event(s) queued for it.")
    out.print("Deliveries go out while 'thresher webhooks dispatch' runs.")


@webhooks_app.command("list")
def list_command(
    connection: str | None = typer.Option(None, "--connection", "-c", help="Only this connection's."),
    json_out: bool = json_option("subscriptions"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List subscriptions (never their secrets).

    Example: thresher webhooks list --json
    """
    with _service(database_url) as service:
        subs = service.list(connection=connection)
    if json_out:
        print_json([_subscription_json(s) for s in subs])
        return
    if not subs:
        out.print("No webhook subscriptions. Add one with 'thresher webhooks add URL'.")
        return
    _print_rows(
        ["id", "url", "events", "format", "state", "description"], [_subscription_row(s) for s in subs]
    )


@webhooks_app.command("show")
def show(
    subscription: int = _SUBSCRIPTION,
    json_out: bool = json_option("the subscription"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show a subscription with its delivery counts.

    Example: thresher webhooks show 1
    """
    with _service(database_url) as service:
        sub = service.get(subscription)
        counts = service.records.count_deliveries(subscription_id=sub.id)
    data = {**_subscription_json(sub), "deliveries": counts}
    if json_out:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key}: {value}", markup=False, highlight=False, soft_wrap=True)


@webhooks_app.command("update")
def update(
    subscription: int = _SUBSCRIPTION,
    url: str | None = typer.Option(None, "--url", help="A new target URL."),
    events: list[str] | None = _EVENTS,
    access_role: str | None = typer.Option(
        None, "--access-role", help="Filter on an access role ('' clears)."
    ),
    role: str | None = typer.Option(None, "--role", help="Filter on a role ('' clears)."),
    email_domain: str | None = typer.Option(
        None, "--email-domain", help="Filter on an email domain ('' clears)."
    ),
    description: str | None = typer.Option(None, "--description", "-d", help="A new description."),
    fmt: str | None = _FORMAT,
    allow_private: bool | None = _PRIVATE,
    enable: bool | None = typer.Option(None, "--enable/--disable", help="Resume or pause deliveries."),
    json_out: bool = json_option("the subscription"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Change a subscription; what is not given stays.

    Example: thresher webhooks update 1 --enable
    """
    filters = {"access_role": access_role, "role": role, "email_domain": email_domain}
    with _service(database_url) as service:
        sub = service.update(
            subscription,
            url=url,
            events=events,
            filters=filters,
            description=description,
            fmt=fmt,
            allow_private=allow_private,
            enabled=enable,
        )
    if json_out:
        print_json(_subscription_json(sub))
        return
    out.print(f"Subscription [bold]{sub.id}[/] updated ({'enabled' if sub.enabled else 'disabled'}).")


@webhooks_app.command("remove")
def remove(
    subscription: int = _SUBSCRIPTION,
    yes: bool = YES,
    json_out: bool = json_option("what was removed"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Remove a subscription with its pending and past deliveries.

    Example: thresher webhooks remove 1 --yes
    """
    question = f"Remove webhook subscription {subscription} and its deliveries?"
    refuse_unconfirmed(question, yes=yes)
    with _service(database_url) as service:
        sub = service.get(subscription)
        confirm(f"Remove webhook subscription {sub.id} ({sub.url}) and its deliveries?", yes=yes)
        service.remove(sub.id)
    if json_out:
        print_json({"removed": sub.id})
        return
    out.print(f"Subscription [bold]{sub.id}[/] removed.")


@webhooks_app.command("rotate-secret")
def rotate_secret(
    subscription: int = _SUBSCRIPTION,
    overlap: float = typer.Option(
        24.0, "--overlap-hours", min=0.0, help="Hours the old secret still signs beside the new one."
    ),
    json_out: bool = json_option("the new secret"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a new signing secret (shown once); the old one still signs for --overlap-hours.

    Example: thresher webhooks rotate-secret 1 --overlap-hours 2
    """
    with _service(database_url) as service:
        secret = service.rotate_secret(subscription, keep_previous_for=overlap * 3600)
    if json_out:
        print_json({"id": subscription, "secret": secret, "previous_valid_hours": overlap})
        return
    out.print(f"New signing secret of subscription [bold]{subscription}[/]; copy it now:")
    out.print(secret, markup=False, highlight=False, soft_wrap=True)


@webhooks_app.command("test")
def send_test(
    subscription: int = _SUBSCRIPTION,
    json_out: bool = json_option("the result"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Send a signed webhook.test event now and show the answer (nothing is queued).

    Example: thresher webhooks test 1
    """
    import asyncio

    with _service(database_url) as service:
        result = asyncio.run(service.send_test(subscription))
    if json_out:
        print_json(
            {
                "ok": result.ok,
                "status": result.status_code,
                "error": result.error,
                "duration_ms": round(result.duration_ms, 1),
                "response": result.response,
            }
        )
    elif result.ok:
        out.print(f"Delivered: HTTP {result.status_code} in {result.duration_ms:.0f} ms.")
    if not result.ok:
        raise ThresherError(
            f"the test delivery failed: {result.error}",
            hint="Check the URL and that the receiver answers 2xx within the timeout.",
        )


@webhooks_app.command("dispatch")
def dispatch(
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop once nothing is due (for cron)."),
    max_in_flight: int = typer.Option(64, "--max-in-flight", min=1, help="Deliveries under way at most."),
    per_host: int = typer.Option(8, "--per-host", min=1, help="Requests open to one host at most."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds a receiver has to answer."),
    json_out: bool = json_option("what was delivered"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Deliver queued events until Ctrl-C (several may run on PostgreSQL; one on SQLite).

    Example: thresher webhooks dispatch
    """
    import asyncio

    from thresher.webhooks import DispatchSettings, run_dispatcher

    store = open_store(database_url)
    settings = DispatchSettings(max_in_flight=max_in_flight, per_host=per_host, timeout=timeout)
    if not until_idle:
        err_console.print(f"Dispatching webhooks from {store.url}; Ctrl-C stops.")
    try:
        stats = asyncio.run(run_dispatcher(store, settings=settings, until_idle=until_idle))
    finally:
        store.close()
    if json_out:
        print_json(stats.as_dict())
    else:
        out.print(
            f"Delivered {stats.delivered}; {stats.failed} failed attempt(s) to retry; "
            f"{stats.dead} dead-lettered."
        )


def _delivery_row(d: StoredDelivery) -> list[str]:
    def when(value: dt.datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""

    nxt = when(d.next_attempt_at) if d.status == "pending" else ""
    code = str(d.last_status) if d.last_status is not None else (d.last_error or "")
    return [
        str(d.id),
        str(d.subscription_id),
        d.kind,
        d.status,
        str(d.attempts),
        code,
        when(d.last_attempt_at),
        nxt,
    ]


@webhooks_app.command("deliveries")
def deliveries(
    failed: bool = typer.Option(False, "--failed", help="Only dead ones and ones being retried."),
    subscription: int | None = typer.Option(None, "--subscription", "-s", help="Only this subscription's."),
    delivery: int | None = typer.Option(
        None, "--id", help="One delivery with its attempts' requests and responses."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many (newest first)."),
    json_out: bool = json_option("deliveries"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Deliveries: status, attempts, last response code and time, next attempt.

    Example: thresher webhooks deliveries --failed
    """
    with _service(database_url) as service:
        if delivery is not None:
            one = service.delivery(delivery)
            if json_out:
                print_json(one.as_dict())
            else:
                _print_rows(
                    ["id", "sub", "type", "status", "attempts", "last", "last at", "next"],
                    [_delivery_row(one)],
                )
                for attempt in one.attempt_log:
                    out.print(
                        f"\n{attempt.attempted_at:%Y-%m-%d %H:%M:%S} {attempt.status_code or attempt.error}",
                        markup=False,
                        highlight=False,
                    )
                    out.print(attempt.request, markup=False, highlight=False, soft_wrap=True)
                    if attempt.response:
                        out.print(f"-> {attempt.response}", markup=False, highlight=False, soft_wrap=True)
            return
        rows = service.deliveries(subscription_id=subscription, failed=failed, limit=limit)
        if json_out:
            print_json([d.as_dict() for d in rows])
            return
        if not rows:
            out.print("No deliveries" + (" failed." if failed else "."))
            return
        _print_rows(
            ["id", "sub", "type", "status", "attempts", "last", "last at", "next"],
            [_delivery_row(d) for d in rows],
        )


@webhooks_app.command("redeliver")
def redeliver(
    ids: list[int] | None = _DELIVERY_IDS,
    since: str | None = typer.Option(None, "--since", help="Every delivery made since (ISO, 2h, 7d)."),
    subscription: int | None = typer.Option(None, "--subscription", "-s", help="Only this subscription's."),
    json_out: bool = json_option("how many were queued"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Send deliveries again, with their original webhook-id (receivers deduplicate on it).

    Example: thresher webhooks redeliver --since 2h --subscription 1
    """
    when = _time(since, "--since")
    if isinstance(when, int):
        raise typer.BadParameter(
            "--since takes a time or a span here, not an event id", param_hint="'--since'"
        )
    if not ids and when is None:
        raise typer.BadParameter("give delivery ids or --since", param_hint="'IDS'")
    with _service(database_url) as service:
        count = service.redeliver(delivery_ids=ids or None, since=when, subscription_id=subscription)
    if json_out:
        print_json({"queued": count})
        return
    out.print(f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")


@webhooks_app.command("replay")
def replay(
    subscription: int = _SUBSCRIPTION,
    replay_from: str = typer.Option(
        ..., "--from", help="Past changes from this time (ISO, 2h, 7d, #EVENT_ID)."
    ),
    json_out: bool = json_option("how many were queued"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Queue past changes from the change log for a subscription, as if it had existed then.

    Example: thresher webhooks replay 2 --from 7d
    """
    when = _time(replay_from, "--from")
    assert when is not None
    with _service(database_url) as service:
        count = service.replay(subscription, since=when)
    if json_out:
        print_json({"queued": count})
        return
    out.print(f"{count} past event(s) queued for subscription {subscription}.")
