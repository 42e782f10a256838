"""Request and response shapes of the records API (kept apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ListCreate", "ListRead", "RecordCreate", "RecordPage", "RecordRead", "RecordUpdate"]


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(description='Field values, e.g. {"email": "jane@acme.com"}.')
    tags: list[str] = Field(default_factory=list, max_length=100)
    list_ids: list[str] = Field(default_factory=list, max_length=100)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = Field(
        default=None, description="Values to change; null clears a field; others stay."
    )
    tags: list[str] | None = Field(default=None, max_length=100, description="Replaces the tags.")
    list_ids: list[str] | None = Field(default=None, max_length=100)


class RecordRead(BaseModel):
    record_id: str
    id: str
    entity: str
    data: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    merged_into: str | None
    version: int


class RecordPage(BaseModel):
    data: list[RecordRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class ListRead(BaseModel):
    id: str
    name: str
    created_at: datetime
