"""``AsyncHarvest``: every endpoint section combined over one request core."""

from __future__ import annotations

from ._assignments import Assignments
from ._company import Companies
from ._identity import Identity
from ._projects import Projects
from ._rates import Rates
from ._roles import Roles
from ._teammates import Teammates
from ._time_entries import TimeEntries
from ._users import Users

__all__ = ["AsyncHarvest"]


class AsyncHarvest(
    Users, Teammates, Rates, Assignments, Roles, Companies, Projects, TimeEntries, Identity
):
    """The async Harvest API v2 client.

    ``AsyncHarvest(settings)`` or ``AsyncHarvest(access_token=..., account_id=..., user_agent=...)``:
    every ``HarvestSettings`` field is also a keyword, and one given (not None) overrides
    ``settings``. Optional ``transport`` (the test seam), ``limiter_registry`` (default: the
    process-wide one, so every client of an account shares its budget), ``retry``, ``auth``
    (default: the settings' personal access token), ``on_request`` (a metrics hook receiving
    ``RequestRecord``s) and ``shared_budget`` (a ``SharedBudget`` the account's other processes
    draw from too, e.g. the store's; none by default, ``thresher.connections.open_client`` wires
    one).
    Use as ``async with AsyncHarvest(...) as harvest:`` or call ``aclose()``.

    Every ``list_*`` is an async iterator over the records, fetched a page at a time; every
    ``*_pages`` yields ``Page`` objects and resumes from a saved ``start_url``; a method that
    answers with one object is a ``get_*`` (or an action such as ``create_*``).
    """
