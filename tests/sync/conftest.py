"""The ``provider`` fixtures (tests/providers.py): the conformance tests here run for a Harvest and
a Greenhouse connection."""

from __future__ import annotations

from providers import provider, provider_name

__all__ = ["provider", "provider_name"]
