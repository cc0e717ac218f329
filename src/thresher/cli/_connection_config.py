"""``thresher connections config NAME``: a connection's own schedule and switches, stored in the
store for every worker and ``serve`` process (``connection_settings``, docs/scale-out.md).

Heavy stacks are imported inside the command.
"""

# ruff: noqa: PLC0415 - heavy stacks are imported inside the command (tests/cli/test_startup.py)

from __future__ import annotations

import typer

from ._console import out, print_json
from ._options import DATABASE_URL, JSON

__all__ = ["connections_config"]


def connections_config(
    name: str = typer.Argument(..., help="Connection name."),
    interval: float | None = typer.Option(
        None, "--interval", min=1.0, help="Seconds between incremental syncs."
    ),
    reconcile: float | None = typer.Option(
        None, "--reconcile", min=1.0, help="Seconds between full listings (they detect deletes)."
    ),
    teammates: str | None = typer.Option(None, "--teammates", help="changed, all or off."),
    scim_delete_mode: str | None = typer.Option(
        None, "--scim-delete-mode",
        help="archive, delete, or default: forget a stored mode (the bridge's --delete-mode applies).",
    ),
    pause: bool | None = typer.Option(
        None, "--pause/--resume", help="Stop (or restart) this connection's background syncs."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why it is paused (shown by 'thresher jobs')."),
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show or change a connection's settings; without options it shows them.

    A connection paused by a worker (Harvest refused its credentials) shows the reason; fix the
    credentials ('thresher login') and resume it.

    --scim-delete-mode default forgets a stored mode, so the bridge's --delete-mode applies.

    Example: thresher connections config acme --interval 300 --teammates off
    """
    from thresher.jobs import configure_connection
    from thresher.store import ConnectionSettingsStore, InvalidArgumentError

    from ._plumbing import open_store

    store = open_store(database_url)
    changes: dict[str, object] = {
        "interval_s": interval, "reconcile_s": reconcile, "teammates": teammates,
        "scim_delete_mode": scim_delete_mode,
    }
    if pause is not None:
        changes["paused"] = pause
        if pause:
            changes["paused_reason"] = reason or "paused by an operator"
    elif reason is not None:
        raise typer.BadParameter("--reason goes with --pause", param_hint="'--reason'")
    changes = {k: v for k, v in changes.items() if v is not None}
    if scim_delete_mode == "default":
        changes["scim_delete_mode"] = None  # stored as NULL: the flag decides (r0011)
    try:
        if changes:
            settings = configure_connection(store, name, **changes).settings
        else:
            settings = ConnectionSettingsStore(store).get(store.get_connection(name).id)
    except InvalidArgumentError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        store.close()
    if json_out:
        print_json({"connection": name, **settings.as_dict()})
        return
    state = f"paused ({settings.paused_reason})" if settings.paused else "active"
    out.print(
        f"{name}: {state}; sync every {settings.interval_s:g} s, full listing every "
        f"{settings.reconcile_s:g} s, teammates {settings.teammates}, SCIM delete "
        f"{settings.scim_delete_mode or 'as the bridge is started (--delete-mode)'}",
        markup=False, soft_wrap=True,
    )
