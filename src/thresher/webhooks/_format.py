"""What a delivery's body is: the event as JSON (Standard Webhooks), or a Slack message.

The JSON body is the payload frozen in the outbox (docs/webhook-event.schema.json), sent as the
bytes stored at commit; the signature covers exactly these bytes. ``--format slack`` posts
``{"text": ...}``, what a Slack incoming-webhook URL expects: one readable line per event, and
the changed fields below it.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["body_for", "slack_text"]

_MAX_FIELDS = 8


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > meanings of their own (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(payload: dict[str, Any]) -> str:
    kind = payload.get("type", "event")
    data = payload.get("data") or {}
    connection = (data.get("connection") or {}).get("name")
    user = data.get("user")
    if user:
        subject = (
            f"{user.get('first_name', '')} {user.get('last_name', '')} <{user.get('email', '')}>".strip()
        )
    elif data.get("resource") == "role":
        name = (data.get("changes") or {}).get("name") or {}
        subject = f"role {name.get('after') or name.get('before') or data.get('harvest_id')}"
    else:
        subject = ", ".join(
            f"{k}: {_value(v)}" for k, v in data.items() if k not in ("connection",) and v is not None
        )
    where = (
        f" ({connection}, via {data['source']})"
        if connection and data.get("source")
        else (f" ({connection})" if connection else "")
    )
    lines = [f"*{_escape(kind)}* {_escape(subject)}{_escape(where)}"]
    changes = data.get("changes") or {}
    if kind.endswith(".updated") or kind.endswith("roles_changed") or kind == "teammates.changed":
        for field, change in list(changes.items())[:_MAX_FIELDS]:
            before, after = _value(change.get("before")), _value(change.get("after"))
            lines.append(_escape(f"• {field}: {before} → {after}"))
    return "\n".join(lines)


def body_for(frozen: bytes, fmt: str) -> bytes:
    """What to post for an event whose JSON was frozen at commit as ``frozen``."""
    if fmt == "slack":
        return orjson.dumps({"text": slack_text(orjson.loads(frozen))})
    return frozen
