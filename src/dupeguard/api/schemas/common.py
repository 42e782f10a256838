"""Shared field types: timestamps always leave the API as ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UTCDateTime"]


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]
