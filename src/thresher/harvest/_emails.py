"""The one rule for when two email addresses name the same Harvest user.

Harvest keeps emails unique per account and is taken to compare them ignoring case
(docs/harvest-api.md §8.2): by simple lower-casing, not Unicode case folding, so
``straße@example.com`` and ``strasse@example.com`` are two people. Every comparison and index in
thresher (the mirror, the lookups, the roster, the SCIM bridge, the sandbox) goes through
``normalize_email``, so none of them can disagree with another.
"""

from __future__ import annotations

__all__ = ["normalize_email"]


def normalize_email(email: str) -> str:
    """``email`` as compared: surrounding whitespace dropped, lower-cased (``str.lower``, never
    ``casefold``: folding would merge addresses Harvest keeps apart)."""
    return email.strip().lower()
