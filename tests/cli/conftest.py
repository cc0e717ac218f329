"""The provisioning tests' sandbox-backed ``cli`` fixture, for the CLI's own tests."""

from __future__ import annotations

from provision.conftest import cli, sandbox_for_cli

__all__ = ["cli", "sandbox_for_cli"]
