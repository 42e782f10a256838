"""Request and response shapes of matching rules and duplicate rules (seed 002).

Request bodies are typed here for the documentation; the rules service checks every value
(fields, methods, thresholds, the expression) and says what is wrong, so the shapes stay loose
where it answers better (``method`` is a string, ranges are its to check).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat

from .common import UTCDateTime

__all__ = [
    "ConditionIn",
    "ConditionRead",
    "DuplicateRuleCreate",
    "DuplicateRuleRead",
    "DuplicateRuleUpdate",
    "MatchingMethodRead",
    "MatchingRuleCreate",
    "MatchingRuleRead",
    "MatchingRuleUpdate",
    "RuleStats",
]

Blank = Literal["no_match", "match"]
Action = Literal["block", "allow"]

_METHOD = (
    "exact, fuzzy_name, phonetic, nickname, initials, fuzzy_company, email, domain, phone or "
    "fuzzy_text (`GET /v1/matching-methods` lists them with the field types they compare)."
)
_BLANK = (
    "`no_match` (default): a blank value never matches; `match`: two blank values agree "
    "(one blank side still does not)."
)
_EXPRESSION = (
    'Conditions numbered from 1, joined by AND / OR with parentheses, e.g. "1 OR (2 AND 3)"; '
    "every condition must appear. Default: all conditions (AND)."
)
_AGAINST = (
    "Another entity whose records this entity's records are compared with (a lead against "
    "`contact`); null: the entity itself. Both entities need the condition fields."
)
_MATCHING_RULES = (
    "Up to 3 matching rules of the same entity, by id or name; any one matching fires."
)
_ACTION = "`block`: refuse the save (409 `duplicates_detected`); `allow`: save and alert."
_INCLUDE_DELETED = (
    "Let records in the recycle bin block or alert like live ones. Default false: they are only "
    "mentioned (`deleted: true`) in the alert."
)


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="A field of the entity (and of the `against` entity).")
    method: str | None = Field(default=None, description=_METHOD + " Default: exact.")
    threshold: StrictFloat | None = Field(
        default=None,
        description="Similarity the field needs, above 0 and at most 1. Default: the "
        "method's `default_threshold`.",
    )
    blank: Blank | None = Field(default=None, description=_BLANK)


class ConditionRead(BaseModel):
    field: str
    method: str
    threshold: float
    blank: Blank


class MatchingRuleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Same person",
                "conditions": [
                    {"field": "email", "method": "email"},
                    {"field": "first_name", "method": "nickname", "threshold": 0.85},
                    {"field": "last_name", "method": "fuzzy_name", "threshold": 0.9},
                    {"field": "phone", "method": "phone"},
                ],
                "expression": "1 OR (2 AND 3 AND 4)",
            }
        },
    )

    name: str = Field(description="Unique on the entity; usable in place of the id.")
    description: str | None = None
    conditions: list[ConditionIn] = Field(description="1 to 10 conditions.")
    expression: str | None = Field(default=None, description=_EXPRESSION)
    against: str | None = Field(default=None, description=_AGAINST)
    active: StrictBool = True


class MatchingRuleUpdate(BaseModel):
    """Only the keys sent change. New `conditions` without an `expression` reset it to all
    conditions (AND)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    conditions: list[ConditionIn] | None = None
    expression: str | None = Field(default=None, description=_EXPRESSION)
    against: str | None = Field(default=None, description=_AGAINST)
    active: StrictBool | None = None


class MatchingRuleRead(BaseModel):
    id: str
    name: str
    description: str
    entity: str
    against: str | None = Field(description="The entity searched, when not `entity` itself.")
    conditions: list[ConditionRead]
    expression: str
    active: bool
    standard: bool = Field(description="Created with the workspace: can be edited, not deleted.")
    version: int = Field(description="Goes up with every change.")
    created_at: UTCDateTime
    updated_at: UTCDateTime


class MatchingMethodRead(BaseModel):
    name: str
    description: str
    default_threshold: float
    field_types: list[str] = Field(description="The field types the method compares.")
    blockable: bool = Field(
        description="Whether it can find candidates on its own; a rule alternative made only "
        "of methods that cannot (nickname) is refused."
    )


class DuplicateRuleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Block duplicate contacts",
                "matching_rules": ["Same person"],
                "action_on_create": "block",
                "action_on_edit": "block",
                "report": True,
            }
        },
    )

    name: str = Field(description="Unique on the entity; usable in place of the id.")
    description: str | None = None
    matching_rules: list[str] = Field(description=_MATCHING_RULES)
    action_on_create: Action = Field(default="allow", description=_ACTION)
    action_on_edit: Action = Field(default="allow", description=_ACTION)
    report: StrictBool = Field(
        default=False, description="File the matches of a saved record as a duplicate record set."
    )
    include_deleted: StrictBool = Field(default=False, description=_INCLUDE_DELETED)
    active: StrictBool = True


class DuplicateRuleUpdate(BaseModel):
    """Only the keys sent change; the next save uses the new rule."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    matching_rules: list[str] | None = Field(default=None, description=_MATCHING_RULES)
    action_on_create: Action | None = Field(default=None, description=_ACTION)
    action_on_edit: Action | None = Field(default=None, description=_ACTION)
    report: StrictBool | None = None
    include_deleted: StrictBool | None = Field(default=None, description=_INCLUDE_DELETED)
    active: StrictBool | None = None


class RuleStats(BaseModel):
    """What the rule did, from the audit log: a rule with many hits and many "not a
    duplicate" marks over-matches."""

    hits: int = Field(description="Saves it matched: alerts + blocks + overrides.")
    alerts: int = Field(description="Allowed saves it alerted on.")
    blocks: int = Field(description="Saves it blocked.")
    overrides: int = Field(description="Blocks lifted by `allowSave=true`.")
    merges: int = Field(description="Merges of the record sets it reported.")
    not_duplicates: int = Field(description='"Not a duplicate" marks on the sets it reported.')


class DuplicateRuleRead(BaseModel):
    id: str
    name: str
    description: str
    entity: str
    matching_rules: list[str] = Field(description="Ids of its matching rules.")
    action_on_create: Action
    action_on_edit: Action
    report: bool
    include_deleted: bool
    active: bool
    standard: bool = Field(description="Created with the workspace: can be edited, not deleted.")
    version: int = Field(description="Goes up with every change.")
    stats: RuleStats
    created_at: UTCDateTime
    updated_at: UTCDateTime
