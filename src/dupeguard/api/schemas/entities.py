"""Request and response shapes of entities, fields and match keys."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = [
    "EntityCreate",
    "EntityRead",
    "FieldCreate",
    "FieldRead",
    "FieldUpdate",
    "MatchKeys",
]


class EntityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="e.g. `vendor`; a-z, 0-9, _.")
    label: str | None = Field(default=None, max_length=200)


class EntityRead(BaseModel):
    name: str
    label: str
    builtin: bool
    match_keys: list[str] = Field(description="Match-key fields in priority order.")
    created_at: UTCDateTime


class FieldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    type: str = Field(
        description="text, long_text, number, date, single_select, multi_select, email, "
        "phone, url, boolean, file or location."
    )
    label: str | None = Field(default=None, max_length=200)
    encrypted: bool = False
    options: dict[str, Any] | None = Field(
        default=None, description='Select fields: {"choices": ["New", "Won", …]}.'
    )


class FieldUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=200)
    match_key: bool | None = Field(
        default=None, description="Use as match key for duplicate detection (seed 001)."
    )
    encrypted: bool | None = None
    options: dict[str, Any] | None = None


class FieldRead(BaseModel):
    name: str
    label: str
    type: str
    builtin: bool
    encrypted: bool
    options: dict[str, Any]
    match_key: bool
    match_key_priority: int | None
    match_key_eligible: bool
    match_key_ineligible_reason: str | None = Field(
        description="Why the field cannot be a match key (null when it can)."
    )


class MatchKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(
        max_length=50, description="Match-key fields, highest priority first; [] turns off."
    )
