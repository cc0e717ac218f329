"""Provisioning commands: login, connections, offboard, teammates, roles, rates, assign, plan/apply."""

from __future__ import annotations

import typer

connections_app = typer.Typer(help="Manage saved Harvest connections.", no_args_is_help=True)
teammates_app = typer.Typer(help="Show and change a manager's teammates.", no_args_is_help=True)
roles_app = typer.Typer(help="Manage Harvest roles (business labels).", no_args_is_help=True)
rates_app = typer.Typer(help="Set billable and cost rates.", no_args_is_help=True)
