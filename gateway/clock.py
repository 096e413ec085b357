"""Time in one place: aware UTC datetimes, and the coercion SQLite needs.

SQLite returns naive datetimes for timezone-aware columns; every value the
gateway stores is UTC, so a naive value read back is UTC too.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
