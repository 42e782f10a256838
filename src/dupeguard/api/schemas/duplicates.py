"""Request and response shapes of duplicate jobs and duplicate record sets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .common import UTCDateTime
from .records import RecordRead

__all__ = [
    "DuplicateJobCreate",
    "DuplicateJobPage",
    "DuplicateJobRead",
    "DuplicatePairRead",
    "NotDuplicateRequest",
    "RecordSetDetail",
    "RecordSetPage",
    "RecordSetRead",
    "SetMemberRead",
]

JobStatus = Literal["queued", "running", "completed", "cancelled", "failed"]
RecordId = Field(min_length=1, max_length=36)


class DuplicateJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str = Field(min_length=1, max_length=64, description="contact, lead, company or deal.")
    method: Literal["model", "rule"] = Field(
        default="model",
        description="`model`: the calibrated similarity against `threshold`. `rule` (with "
        "`matching_rule_id`) is not available yet.",
    )
    threshold: float = Field(default=0.85, ge=0.0, le=1.0, allow_inf_nan=False)
    matching_rule_id: str | None = Field(default=None, max_length=36)


class DuplicateJobRead(BaseModel):
    id: str
    entity: str
    method: str
    threshold: float | None
    matching_rule_id: str | None
    status: JobStatus = Field(
        description="queued → running → completed | cancelled | failed. A job whose server "
        "died reads `failed` with error `interrupted`."
    )
    stage: str = Field(
        description="queued, loading, normalise, block, compare, score, explain, cluster, "
        "saving, done (or cancelled, failed)."
    )
    progress: float = Field(description="0–1.")
    records_scanned: int
    pairs_found: int
    sets_found: int
    cancel_requested: bool
    error: str | None
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    heartbeat_at: UTCDateTime | None
    finished_at: UTCDateTime | None


class DuplicateJobPage(BaseModel):
    data: list[DuplicateJobRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class SetMemberRead(BaseModel):
    record_id: str
    score: float = Field(description="The record's best pair similarity in the set.")
    is_primary: bool = Field(description="Most complete, then oldest record of the set.")
    record: RecordRead | None = Field(
        default=None, description="The record as stored now (in a single set's view)."
    )


class DuplicatePairRead(BaseModel):
    id: str
    primary_id: str
    duplicate_id: str
    similarity: float
    matched_fields: list[str]
    reason: str


class RecordSetRead(BaseModel):
    id: str
    entity: str
    job_id: str | None
    source: str = Field(description="job (a duplicate job) or rule (reported by a duplicate rule).")
    rule_id: str | None = Field(default=None, description="The duplicate rule that reported it.")
    status: str = Field(description="open, superseded, dismissed or merged.")
    size: int
    max_similarity: float
    created_at: UTCDateTime
    resolved_at: UTCDateTime | None
    members: list[SetMemberRead]


class RecordSetDetail(RecordSetRead):
    pairs: list[DuplicatePairRead] = Field(description="Highest similarity first.")


class RecordSetPage(BaseModel):
    data: list[RecordSetRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class NotDuplicateRequest(BaseModel):
    """Either `record_ids` (two members of the set) or `pairs` (several such pairs)."""

    model_config = ConfigDict(extra="forbid")

    record_ids: list[str] | None = Field(default=None, min_length=2, max_length=2)
    pairs: list[list[str]] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_form(self) -> NotDuplicateRequest:
        if (self.record_ids is None) == (self.pairs is None):
            raise ValueError("send either record_ids (two members) or pairs, not both")
        return self

    def as_pairs(self) -> list[list[str]]:
        return [self.record_ids] if self.record_ids is not None else list(self.pairs or [])
