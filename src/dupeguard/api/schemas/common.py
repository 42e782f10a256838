"""Shared field types: timestamps always leave the API as ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

__all__ = ["IsoDateTime", "UTCDateTime"]


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]


def _iso_only(value: object) -> object:
    """Refuse what pydantic would read as a Unix timestamp (``0.5``, ``1700000000``): the API
    documents ISO 8601 date-times, and a number is almost always a mistake."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        try:
            float(text.strip())
        except ValueError:
            return value
        raise ValueError("an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A date-time the client sends: ISO 8601 only (not a number)."""
