"""Choices the command line shows in its help and parses, without importing the stacks they
come from.

Typer reads every command's signature (``typing.get_type_hints``) to build ``--help``, so the
types and defaults of command parameters must import cheaply: the Harvest client (pydantic), the
store (SQLAlchemy) and the SCIM bridge take seconds to import. These copies are checked against
their sources by ``tests/cli/test_startup.py``; commands convert them at run time.
"""

from __future__ import annotations

import enum

__all__ = ["ACCESS_ROLES", "ScimDeleteMode"]

#: Harvest's access roles: ``thresher.harvest.BASE_ROLES``, ``MANAGER_ADDONS`` and
#: ``PEOPLE_MANAGER``, in that order (docs/harvest-api.md).
ACCESS_ROLES: tuple[str, ...] = (
    "administrator",
    "manager",
    "member",
    "project_creator",
    "billable_rates_manager",
    "managed_projects_invoice_drafter",
    "managed_projects_invoice_manager",
    "client_and_task_manager",
    "time_and_expenses_manager",
    "estimates_manager",
    "people_manager",
)


class ScimDeleteMode(enum.StrEnum):
    """``scim serve --delete-mode``: the values of ``thresher.scim.DeleteMode``."""

    archive = "archive"
    delete = "delete"
