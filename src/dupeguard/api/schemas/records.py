"""Request and response shapes of the records API (kept apart from the tables)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = [
    "BulkCreate",
    "BulkResponse",
    "BulkResult",
    "ListCreate",
    "ListRead",
    "RecordCreate",
    "RecordPage",
    "RecordRead",
    "RecordUpdate",
]


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
    created_at: UTCDateTime
    updated_at: UTCDateTime
    deleted_at: UTCDateTime | None
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
    created_at: UTCDateTime


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[Any] = Field(
        max_length=10_000,
        description='Rows like {"data": {...}, "tags": [...]}; each is checked on its own.',
    )


class BulkResult(BaseModel):
    index: int
    status: str = Field(description="created, or error")
    record_id: str | None = None
    error: dict[str, Any] | None = None


class BulkResponse(BaseModel):
    results: list[BulkResult]
