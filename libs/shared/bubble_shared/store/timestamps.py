"""Timezone-aware UTC timestamps that round-trip through SQLite and PostgreSQL alike.

PostgreSQL's ``timestamptz`` keeps the instant but hands it back in the session's time zone;
SQLite has no timestamp type at all and SQLAlchemy stores naive text there. Storing every value
as UTC and always returning ``tzinfo=UTC`` means comparisons, run markers and protobuf
``Timestamp`` conversions behave the same on both, and a naive datetime (whose meaning depends on
the machine) is refused instead of silently shifted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the store's default clock)."""
    return datetime.now(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` converted to UTC; a naive datetime is a caller bug, so it raises ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware values and always returns UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = require_aware(value, "timestamp")
        # SQLite stores text without an offset: keep the UTC wall time, which sorts correctly.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
