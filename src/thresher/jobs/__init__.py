"""Workers: thresher's background work as procrastinate tasks on the PostgreSQL store.

Syncs of every connection on its own interval (full reconciles on its schedule), OAuth refreshes
ahead of expiry, roster applies and webhook deliveries run as jobs, with a lock per connection
(never two syncs of one connection across all workers) or subscription, retries with backoff and
periodic passes. Run as
many ``thresher worker`` processes, on as many machines, as the load needs (docs/scale-out.md)::

    from thresher.jobs import Jobs, create_connection
    from thresher.store import Store

    store = Store.open("postgresql+psycopg://thresher@db/thresher")
    create_connection(store, "acme", account_id=123456, token="...", interval_s=300)
    async with Jobs(store, concurrency=8) as jobs:
        await jobs.run_worker()

``queue_status`` and ``queue_gauges`` read the queue for ``thresher jobs`` and ``/metrics``.
"""

from ._app import Jobs
from ._connections import (
    ManagedConnection,
    configure_connection,
    create_connection,
    delete_connection,
    list_managed,
    pause_connection,
    resume_connection,
)
from ._errors import JobsConfigError, JobsError, JobsUnavailableError
from ._runs import SyncOutcome
from ._settings import QUEUES, JobsSettings
from ._status import ConnectionJobs, QueueStatus, SubscriptionJobs, queue_gauges, queue_status

__all__ = [
    "QUEUES",
    "ConnectionJobs",
    "Jobs",
    "JobsConfigError",
    "JobsError",
    "JobsSettings",
    "JobsUnavailableError",
    "ManagedConnection",
    "QueueStatus",
    "SubscriptionJobs",
    "SyncOutcome",
    "configure_connection",
    "create_connection",
    "delete_connection",
    "list_managed",
    "pause_connection",
    "queue_gauges",
    "queue_status",
    "resume_connection",
]

# Tracebacks name the public path (``thresher.jobs.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
