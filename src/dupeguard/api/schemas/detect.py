"""``POST /v1/ai/detect-duplicates``, exactly as seed 000 describes it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import IsoDateTime, UTCDateTime

__all__ = ["DetectPair", "DetectRequest", "DetectResponse", "DetectScope", "WorkspaceRead"]


class DetectScope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    created_after: IsoDateTime | None = Field(default=None, description="ISO 8601.")
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    list_id: str | None = Field(default=None, min_length=1, max_length=36)


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_type: Literal["contact", "company", "deal"]
    threshold: float = Field(default=0.85, ge=0.0, le=1.0, allow_inf_nan=False)
    limit: int = Field(default=100, ge=1, le=1000)
    scope: DetectScope | None = None


class DetectPair(BaseModel):
    primary_id: str
    duplicate_id: str
    similarity: float
    matched_fields: list[str]
    reason: str


class DetectData(BaseModel):
    pairs: list[DetectPair]
    total_candidates: int = Field(description="Number of records scanned.")
    credits_remaining: int = Field(description="Balance after this call.")


class DetectResponse(BaseModel):
    data: DetectData


class WorkspaceData(BaseModel):
    id: str
    name: str
    credits: int
    record_counts: dict[str, int]
    created_at: UTCDateTime


class WorkspaceRead(BaseModel):
    data: WorkspaceData
