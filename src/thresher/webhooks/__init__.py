"""Change webhooks: every change the mirror records, pushed to the systems that care.

Subscriptions name a URL, the event types wanted (``user.*``, ``role.*``, ``teammates.changed``,
and operational ones such as ``sync.failed``) and an optional filter. Each write that records
change events queues their deliveries in the same transaction (the store's outbox); a dispatcher
signs them with the Standard Webhooks scheme and sends them, at least once, in per-user order,
with retries over about three days::

    from thresher.store import Store
    from thresher.webhooks import WebhookService, run_dispatcher

    store = Store.open()
    sub, secret, _ = WebhookService(store).add("https://hr.example.com/hooks", events=["user.*"])
    await run_dispatcher(store, stop=stop_event)

docs/webhooks.md describes payloads, signatures, retries and receivers.
"""

from ._dispatcher import DispatchStats, run_dispatcher
from ._errors import (
    DispatcherBusyError,
    InvalidSubscriptionError,
    UnknownSubscriptionError,
    UnsafeTargetError,
    WebhookError,
    WebhookSecretError,
)
from ._format import slack_text
from ._http import DeliveryClient
from ._secrets import SecretKeeper
from ._sender import redacted_url
from ._service import DEFAULT_EVENTS, FILTER_KEYS, WebhookService, validate_events
from ._settings import DEFAULT_RETRY_SCHEDULE, DispatchSettings
from ._signing import generate_secret, signature_headers
from ._targets import check_target, check_url, is_public

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_RETRY_SCHEDULE",
    "FILTER_KEYS",
    "DeliveryClient",
    "DispatchSettings",
    "DispatchStats",
    "DispatcherBusyError",
    "InvalidSubscriptionError",
    "SecretKeeper",
    "UnknownSubscriptionError",
    "UnsafeTargetError",
    "WebhookError",
    "WebhookSecretError",
    "WebhookService",
    "check_target",
    "check_url",
    "generate_secret",
    "is_public",
    "redacted_url",
    "run_dispatcher",
    "signature_headers",
    "slack_text",
    "validate_events",
]

# Tracebacks name the public path (``thresher.webhooks.SomeError``), never the private module.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
