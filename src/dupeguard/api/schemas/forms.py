"""Request and response shapes of the forms API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import UTCDateTime

__all__ = [
    "FormCreate",
    "FormInput",
    "FormPage",
    "FormRead",
    "FormSubmit",
    "FormUpdate",
    "SubmissionPage",
    "SubmissionRead",
    "SubmissionResult",
]

DedupMode = Literal["skip", "update", "off"]


class FormInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, description="The input's name in submissions (default: the field name)."
    )
    field: str = Field(description="The entity field it fills.")
    label: str | None = Field(default=None, description="Shown to people (default: the field's).")
    required: bool = False


class FormCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    entity: str = Field(default="lead", description="The entity submissions go to.")
    fields: list[FormInput] = Field(min_length=1, max_length=100)
    dedup_mode: DedupMode = Field(
        default="skip",
        description="On a match-key hit: skip (default), update the match, or off (always create).",
    )
    thank_you: str = Field(default="", max_length=1000)


class FormUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    fields: list[FormInput] | None = Field(default=None, min_length=1, max_length=100)
    dedup_mode: DedupMode | None = None
    thank_you: str | None = Field(default=None, max_length=1000)
    active: bool | None = None


class FormRead(BaseModel):
    id: str
    name: str
    entity: str
    fields: list[FormInput]
    dedup_mode: str
    thank_you: str
    active: bool
    token_prefix: str = Field(description="The start of the token, to tell tokens apart.")
    token: str | None = Field(
        default=None, description="The submission token: shown once, at creation or rotation."
    )
    submit_url: str = Field(description="Where the form posts its submissions.")
    created_at: UTCDateTime


class FormPage(BaseModel):
    data: list[FormRead]


class FormSubmit(BaseModel):
    """A public submission (JSON). Forms posting ``application/x-www-form-urlencoded`` send
    the inputs as fields and the token as the ``token`` field."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(
        default=None, max_length=100, description="The form token, unless sent as X-Form-Token."
    )
    data: dict[str, Any] = Field(description='Input values, e.g. {"email": "jane@acme.com"}.')


class SubmissionResult(BaseModel):
    """What a public visitor sees: no decision and no record ids (they would reveal whether
    an address is already in the CRM)."""

    submission_id: str = Field(description="Look it up under GET /v1/forms/{id}/submissions.")
    thank_you: str


class SubmissionRead(BaseModel):
    id: str
    form_id: str
    decision: str
    record_id: str | None
    matches: list[str]
    matched_by: str | None
    changed_fields: list[str]
    created_at: UTCDateTime


class SubmissionPage(BaseModel):
    data: list[SubmissionRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
