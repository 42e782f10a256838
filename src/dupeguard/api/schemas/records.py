"""Request and response shapes of the records API (kept apart from the tables)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = [
    "ActivityRead",
    "BulkCreate",
    "BulkResponse",
    "BulkResult",
    "DuplicateMatch",
    "IntakeResult",
    "ListCreate",
    "ListRead",
    "RecordCreate",
    "RecordEdited",
    "RecordPage",
    "RecordRead",
    "RecordUpdate",
    "RecordUpsert",
]


DedupMode = Literal["skip", "update", "off"]
Decision = Literal["created", "updated", "skipped", "conflict"]
_MODE = (
    "What a match-key hit does (seed 001): `skip` (default) keeps the existing record, "
    "`update` overwrites the fields sent, `off` always creates."
)


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(description='Field values, e.g. {"email": "jane@acme.com"}.')
    dedup_mode: DedupMode = Field(default="skip", description=_MODE)
    tags: list[str] = Field(default_factory=list, max_length=100)
    list_ids: list[str] = Field(default_factory=list, max_length=100)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = Field(
        default=None, description="Values to change; null clears a field; others stay."
    )
    tags: list[str] | None = Field(default=None, max_length=100, description="Replaces the tags.")
    list_ids: list[str] | None = Field(default=None, max_length=100)


class RecordUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(
        description="Values to set; null clears a field on update. The path's field and "
        "value are added on insert."
    )


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


class DuplicateMatch(BaseModel):
    """A stored record a duplicate rule matched, with the evidence."""

    record_id: str
    entity: str = Field(description="The matched record's entity (another one across entities).")
    rule: str = Field(description="The duplicate rule that fired.")
    rule_id: str
    matched_fields: list[str] = Field(description="The fields whose conditions held.")
    similarity: float = Field(description="Mean similarity of those fields, 0 to 1.")
    deleted: bool = Field(
        default=False,
        description="In the recycle bin: mentioned, but it blocks only with include_deleted.",
    )


_DUPLICATES = (
    "What the duplicate rules matched on this (allowed) save: the alert. Empty when none fired."
)


class IntakeResult(BaseModel):
    """An intake decision. `lead_id` repeats `record_id` for clients that read only it."""

    decision: Decision
    record_id: str | None = Field(description="The created, updated or matched record.")
    lead_id: str | None = Field(description="Same as record_id.")
    changed_fields: list[str] = Field(description="Fields an update changed.")
    matches: list[str] = Field(description="Ids matched at `matched_by` (several: conflict).")
    matched_by: str | None = Field(description="The match key that decided.")
    record: RecordRead | None = Field(
        default=None, description="The record as stored now (null for a conflict)."
    )
    duplicates: list[DuplicateMatch] = Field(default_factory=list, description=_DUPLICATES)


class RecordEdited(RecordRead):
    """An edited record, with the duplicate rules' alert."""

    duplicates: list[DuplicateMatch] = Field(default_factory=list, description=_DUPLICATES)


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
    dedup_mode: DedupMode = Field(default="skip", description=_MODE)


class BulkResult(BaseModel):
    index: int
    status: str = Field(description="The decision (created, updated, skipped, conflict) or error.")
    decision: Decision | None = None
    record_id: str | None = None
    lead_id: str | None = None
    changed_fields: list[str] = Field(default_factory=list)
    matches: list[str] = Field(default_factory=list)
    matched_by: str | None = None
    duplicates: list[DuplicateMatch] = Field(default_factory=list, description=_DUPLICATES)
    error: dict[str, Any] | None = Field(
        default=None,
        description="The row's error, as the error envelope's `error`: `code`, `message`, "
        "`details` (for `duplicates_detected`, `details.matches`).",
    )


class ActivityRead(BaseModel):
    id: str
    kind: str = Field(description="created, updated, deleted, restored, …")
    source: str = Field(description="api, import, form or ui")
    changes: dict[str, Any] = Field(description='{"field": {"old": …, "new": …}}')
    details: dict[str, Any]
    created_at: UTCDateTime


class BulkResponse(BaseModel):
    results: list[BulkResult]
