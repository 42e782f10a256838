"""Request and response shapes of the CSV import API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = [
    "ImportCounts",
    "ImportPage",
    "ImportRead",
    "ImportRowPage",
    "ImportRowRead",
    "MappingUpdate",
    "PreviewResponse",
    "PreviewRow",
]

Status = Literal["uploaded", "mapped", "previewed", "running", "completed", "failed", "interrupted"]
RowDecision = Literal["created", "updated", "skipped", "conflict", "blocked", "error"]


class ImportCounts(BaseModel):
    created: int = 0
    updated: int = 0
    skipped: int = 0
    conflict: int = 0
    blocked: int = Field(default=0, description="Rows a blocking duplicate rule refused.")
    error: int = 0


class ImportRead(BaseModel):
    id: str
    entity: str
    filename: str
    status: Status = Field(
        description="uploaded → mapped → previewed → running → completed | failed; a running "
        "import whose heartbeat stopped reads `interrupted` (resume it)."
    )
    columns: list[str] = Field(description="The file's column names, in file order.")
    row_count: int = Field(description="Data rows (the header and blank lines not counted).")
    mapping: dict[str, str] = Field(
        description="Column → field; unmapped columns are ignored. After upload: the suggestion."
    )
    dedup_mode: Literal["skip", "update", "off"]
    processed_rows: int
    progress: float = Field(description="processed_rows / row_count, 0–1.")
    counts: ImportCounts = Field(
        description="While `previewed`: the predicted counts; once started: the rows applied."
    )
    error: str | None = None
    created_at: UTCDateTime
    started_at: UTCDateTime | None = None
    heartbeat_at: UTCDateTime | None = None
    finished_at: UTCDateTime | None = None


class ImportPage(BaseModel):
    data: list[ImportRead]
    next_cursor: str | None = None


class MappingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str | None] = Field(
        description='Column → field name, e.g. {"E-mail": "email"}; null or omitted: ignored.'
    )
    dedup_mode: Literal["skip", "update", "off"] = Field(
        default="skip",
        description="On a match-key hit: `skip` (default) keeps the existing record, `update` "
        "overwrites the mapped fields (never assignee or status), `off` always creates.",
    )


class ImportRowRead(BaseModel):
    row_number: int = Field(description="1 is the first data row after the header.")
    decision: RowDecision
    record_id: str | None = None
    matches: list[str] = Field(default_factory=list)
    matched_by: str | None = None
    changed_fields: list[str] = Field(default_factory=list)
    error: str | None = None


class ImportRowPage(BaseModel):
    data: list[ImportRowRead]
    next_cursor: str | None = None


class PreviewRow(ImportRowRead):
    matched_rows: list[int] = Field(
        default_factory=list,
        description="Earlier rows of this file whose (future) record this row matches.",
    )


class PreviewResponse(BaseModel):
    counts: ImportCounts
    row_count: int
    data: list[PreviewRow]
    next_cursor: str | None = None
