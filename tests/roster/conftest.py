"""The roster tests drive the real CLI against a sandbox served over HTTP, as the provisioning
tests do (their fixtures are reused here)."""

from __future__ import annotations

from provision.conftest import Cli, cli, sandbox_for_cli

__all__ = ["Cli", "cli", "sandbox_for_cli"]
