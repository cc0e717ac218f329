"""The roster tests drive the real CLI against a sandbox served over HTTP, as the provisioning
tests do (their fixtures are reused here); ``provider_cli`` runs a test for a Harvest and a
Greenhouse connection (tests/providers.py)."""

from __future__ import annotations

from provision.conftest import Cli, ProviderCli, cli, provider_cli, provider_name, sandbox_for_cli

__all__ = ["Cli", "ProviderCli", "cli", "provider_cli", "provider_name", "sandbox_for_cli"]
