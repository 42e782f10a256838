"""Request and response shapes of merges, record links and the audit log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime
from .records import RecordRead

__all__ = [
    "AuditEntryRead",
    "AuditPage",
    "LinkCreate",
    "LinkPage",
    "LinkRead",
    "MergeCreate",
    "MergePage",
    "MergeRead",
    "MergeResult",
]


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary_id: str = Field(min_length=1, max_length=36, description="The surviving record.")
    duplicate_ids: list[str] = Field(
        min_length=1, max_length=10, description="1-10 records folded into the primary."
    )
    choices: dict[str, str] = Field(
        default_factory=dict,
        description='Field → id of the record whose value survives, e.g. {"phone": "<id>"}. '
        "Other fields keep the primary's non-empty value, else the most recently updated "
        "duplicate's non-empty value.",
    )


class MergeRead(BaseModel):
    id: str
    entity: str
    primary_id: str
    duplicate_ids: list[str]
    choices: dict[str, str]
    changes: dict[str, Any] = Field(description='{"field": {"old": …, "new": …}} on the primary')
    moved: dict[str, int] = Field(
        description="Links moved and dropped, activities moved, tags and lists added."
    )
    actor: str | None
    created_at: UTCDateTime
    undone_at: UTCDateTime | None
    undo_deadline: UTCDateTime = Field(description="Undo is possible until then (30 days).")
    undoable: bool


class MergeResult(MergeRead):
    record: RecordRead = Field(description="The primary record as stored now.")


class MergePage(BaseModel):
    data: list[MergeRead]
    next_cursor: str | None


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_id: str = Field(min_length=1, max_length=36, description="Any live record.")
    label: str = Field(default="", max_length=64, description='e.g. "contact", "company"')


class LinkRead(BaseModel):
    id: str
    record_id: str
    target_id: str
    label: str
    direction: Literal["outgoing", "incoming"] = Field(
        description="Relative to the record asked about: outgoing when it is `record_id`."
    )
    created_at: UTCDateTime


class LinkPage(BaseModel):
    data: list[LinkRead]
    next_cursor: str | None


class AuditEntryRead(BaseModel):
    id: str
    kind: str = Field(
        description="merge, undo, not_duplicate, duplicate_job, duplicate_alert, "
        "duplicate_blocked, duplicate_override"
    )
    entity: str | None
    source: str | None
    record_id: str | None
    matched_ids: list[str]
    rule_id: str | None
    rule_name: str | None
    action: str | None
    actor: str | None
    override: bool
    details: dict[str, Any]
    request_id: str | None
    created_at: UTCDateTime


class AuditPage(BaseModel):
    data: list[AuditEntryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for older entries.")
