"""The roster store: an exact mirror of each connected Harvest account's users, with a change log.

SQLite by default (``THRESHER_DATABASE_URL``, else ``thresher.db`` in the user's data directory),
PostgreSQL through ``postgresql+psycopg://``. The schema changes only through the migrations
shipped in this package; ``Store.open`` applies pending ones.

    store = Store.open()
    conn = store.add_connection("acme", account_id=123456)
    with store.transaction() as tx:                 # rows, events and sync state: one commit
        events = tx.apply_users(conn.id, page.items, observed_at=now)
        tx.save_sync_state(dataclasses.replace(state, resume_url=page.next_url))
    store.list_users(conn.id, email="Ada@Example.com")

Webhook subscriptions and their outbox live here too (:class:`WebhookStore`): every write
that records change events queues their deliveries in the same transaction.

The SCIM bridge keeps its own rows in the same database, through :class:`ScimRecords` (what
identity providers send that Harvest has no field for) and :class:`ScimTokens` (its bearer
tokens), the service's own rows through :class:`ServeRecords` (``thresher serve``), and each
connection's configuration through :class:`ConnectionSettingsStore` (``thresher.jobs``).
``Store.rate_budget`` is the one rate budget per Harvest account that every process on
the store draws from (:class:`RateBudget`). Every database error, whichever table, is a
:class:`StoreError`.
"""

from ._budget import BudgetState, BudgetTicket, RateBudget
from ._connection_settings import (
    ConnectionSettings,
    ConnectionSettingsStore,
    ScimDeleteMode,
    TeammatesMode,
)
from ._database import default_database_url
from ._errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    DuplicateConnectionError,
    DuplicateScimTokenError,
    InvalidArgumentError,
    LeaseHeldError,
    LeaseLostError,
    MigrationError,
    ReplayError,
    StoreError,
    StoreNotFoundError,
    UnknownConnectionError,
)
from ._fields import ROLE_FIELDS, USER_FIELDS, user_snapshot
from ._greenhouse import (
    GREENHOUSE_FIELDS,
    SITE_ADMIN,
    apply_greenhouse_fields,
    apply_greenhouse_users,
    greenhouse_fields,
    greenhouse_fields_of,
    mirror_user,
)
from ._migrate import Revisions
from ._records import (
    USERS_RESOURCE,
    ChangeEvent,
    EventKind,
    EventResource,
    EventSource,
    Lease,
    LeaseHolder,
    RunKind,
    StoredConnection,
    StoredRole,
    StoredUser,
    SyncState,
)
from ._replay import replay
from ._roster_reads import RosterPage, RosterReads, UserProfile, UserStatus
from ._schema import EVENT_KINDS, PROVIDERS
from ._scim_records import ScimPendingUser, ScimRecords, ScimUserExtras, user_name_key
from ._scim_tokens import ScimTokens, StoredScimToken
from ._serve_records import ServeRecords, StoredAdmin, StoredAdminToken, StoredRun, UsageKey
from ._store import DEFAULT_BASE_URL, DEFAULT_ID_URL, Store
from ._transaction import StoreTransaction
from ._webhook_outbox import new_message_id
from ._webhook_records import (
    ALERT_TYPES,
    CHANGE_TYPES,
    TEST_TYPE,
    WEBHOOK_TYPES,
    DeliveryClaim,
    DeliveryResult,
    DeliveryStatus,
    StoredAttempt,
    StoredDelivery,
    StoredSubscription,
    WebhookFormat,
)
from ._webhooks import WebhookStore

__all__ = [
    "ALERT_TYPES",
    "CHANGE_TYPES",
    "DEFAULT_BASE_URL",
    "DEFAULT_ID_URL",
    "EVENT_KINDS",
    "GREENHOUSE_FIELDS",
    "PROVIDERS",
    "ROLE_FIELDS",
    "SITE_ADMIN",
    "TEST_TYPE",
    "USERS_RESOURCE",
    "USER_FIELDS",
    "WEBHOOK_TYPES",
    "BudgetState",
    "BudgetTicket",
    "ChangeEvent",
    "ConnectionSettings",
    "ConnectionSettingsStore",
    "DatabaseBusyError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DeliveryClaim",
    "DeliveryResult",
    "DeliveryStatus",
    "DuplicateConnectionError",
    "DuplicateScimTokenError",
    "EventKind",
    "EventResource",
    "EventSource",
    "InvalidArgumentError",
    "Lease",
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "MigrationError",
    "RateBudget",
    "ReplayError",
    "Revisions",
    "RosterPage",
    "RosterReads",
    "RunKind",
    "ScimDeleteMode",
    "ScimPendingUser",
    "ScimRecords",
    "ScimTokens",
    "ScimUserExtras",
    "ServeRecords",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "StoreTransaction",
    "StoredAdmin",
    "StoredAdminToken",
    "StoredAttempt",
    "StoredConnection",
    "StoredDelivery",
    "StoredRole",
    "StoredRun",
    "StoredScimToken",
    "StoredSubscription",
    "StoredUser",
    "SyncState",
    "TeammatesMode",
    "UnknownConnectionError",
    "UsageKey",
    "UserProfile",
    "UserStatus",
    "WebhookFormat",
    "WebhookStore",
    "apply_greenhouse_fields",
    "apply_greenhouse_users",
    "default_database_url",
    "greenhouse_fields",
    "greenhouse_fields_of",
    "mirror_user",
    "new_message_id",
    "replay",
    "user_name_key",
    "user_snapshot",
]

# Tracebacks name the public path (``thresher.store.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
