"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timestamp-with-zone and no exact decimal; these types hide that so the rest of the
store only ever sees timezone-aware UTC datetimes and exact, canonical decimals.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JSON_TYPE", "ExactDecimal", "UTCDateTime", "canonical_decimal", "utc"]

#: JSON everywhere, JSONB on PostgreSQL so list containment (``@>``) works for role filters.
JSON_TYPE: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


def utc(value: dt.datetime, what: str = "datetime") -> dt.datetime:
    """``value`` in UTC; naive datetimes are refused rather than guessed at."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC)


# Cached: a roster has a handful of distinct rates, and equal decimals (100.0, 100.00) share an
# entry, which is right since they share the canonical form.
@functools.lru_cache(maxsize=4096)
def canonical_decimal(value: Decimal) -> str:
    """The one text form of a decimal: ``Decimal("100.00")`` and ``Decimal("1E+2")`` are ``"100"``.

    Equal amounts must compare equal after a round trip through either database (PostgreSQL keeps
    the scale it was given, SQLite keeps text), and the change log must not report ``100.0 -> 100``.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out.

    SQLite stores naive text, so values are converted to UTC and stripped on the way in and tagged
    as UTC on the way out; PostgreSQL's ``timestamptz`` comes back in the session's zone and is
    converted to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """``NUMERIC`` on PostgreSQL; canonical text on SQLite, which only has binary floats.

    (A ``NUMERIC`` column on SQLite has numeric affinity and would turn ``"0.1"`` into a float.)
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        text = canonical_decimal(Decimal(value))
        return text if dialect.name == "sqlite" else Decimal(text)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(canonical_decimal(Decimal(str(value))))
