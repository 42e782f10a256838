"""Matching rules and duplicate rules (seed 002): CRUD under ``/v1/entities/{entity}``, and the
comparison methods a condition can use.

``{rule}`` in a path is a rule's id or its name. Reading needs ``read``; changing a rule changes
what every save does, so it needs ``admin`` (as fields and match keys do). A change applies to
the next save: the rules are read afresh by every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ...core.rule_methods import METHODS
from ...services import rules as svc
from ...store.tables import DuplicateRule, MatchingRule
from ..deps import Admin, Reader, SessionDep, region_of
from ..errors import error_responses
from ..schemas.rules import (
    DuplicateRuleCreate,
    DuplicateRuleRead,
    DuplicateRuleUpdate,
    MatchingMethodRead,
    MatchingRuleCreate,
    MatchingRuleRead,
    MatchingRuleUpdate,
    RuleStats,
)

router = APIRouter(tags=["rules"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
WRITE_ERRORS = error_responses(
    "validation_error",
    "invalid_key",
    "insufficient_permissions",
    "not_found",
    "conflict",
    "rate_limited",
)

RuleRef = Annotated[
    str, Path(min_length=1, max_length=200, description="The rule's id or its name.")
]


def _body(model: BaseModel) -> dict[str, Any]:
    """What the client sent (an unsent key keeps the service's default or the stored value);
    a condition's ``null`` means its default."""
    body = model.model_dump(exclude_unset=True)
    if isinstance(body.get("conditions"), list):
        body["conditions"] = [
            {k: v for k, v in c.items() if v is not None} for c in body["conditions"]
        ]
    return body


# --- matching rules ------------------------------------------------------------------------


def _matching(session: Session, rule: MatchingRule, entity: str) -> MatchingRuleRead:
    return MatchingRuleRead.model_validate(
        {
            "id": rule.id,
            "name": rule.name,
            "description": rule.description,
            "entity": entity,
            "against": svc.entity_name(session, rule.against_entity_id),
            "conditions": rule.conditions,
            "expression": rule.expression,
            "active": rule.active,
            "standard": rule.standard,
            "version": rule.version,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )


@router.get(
    "/v1/entities/{entity}/matching-rules",
    response_model=list[MatchingRuleRead],
    responses=ERRORS,
)
def list_matching_rules(entity: str, session: SessionDep, key: Reader) -> list[MatchingRuleRead]:
    """The entity's matching rules, oldest first, inactive and standard ones included."""
    rules = svc.list_matching_rules(session=session, workspace_id=key.workspace_id, entity=entity)
    return [_matching(session, r, entity) for r in rules]


@router.post(
    "/v1/entities/{entity}/matching-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=MatchingRuleRead,
    responses=WRITE_ERRORS,
)
def create_matching_rule(
    entity: str, body: MatchingRuleCreate, request: Request, session: SessionDep, key: Admin
) -> MatchingRuleRead:
    """A matching rule: conditions (a field, a method, a threshold, blank handling) joined by
    an expression. Refused with the reason when a method does not suit the field's type, a
    field is unknown or encrypted, the expression is malformed or leaves a condition out, or an
    alternative of the expression cannot find candidates (only `nickname` conditions). With
    `against`, the rule compares this entity's records with another entity's. A matching rule
    does nothing until a duplicate rule uses it."""
    rule = svc.create_matching_rule(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        body=_body(body),
        region=region_of(request),
    )
    return _matching(session, rule, entity)


@router.get(
    "/v1/entities/{entity}/matching-rules/{rule}",
    response_model=MatchingRuleRead,
    responses=ERRORS,
)
def get_matching_rule(
    entity: str, rule: RuleRef, session: SessionDep, key: Reader
) -> MatchingRuleRead:
    found = svc.get_matching_rule(
        session=session, workspace_id=key.workspace_id, entity=entity, rule_id=rule
    )
    return _matching(session, found, entity)


@router.patch(
    "/v1/entities/{entity}/matching-rules/{rule}",
    response_model=MatchingRuleRead,
    responses=WRITE_ERRORS,
)
def update_matching_rule(
    entity: str,
    rule: RuleRef,
    body: MatchingRuleUpdate,
    request: Request,
    session: SessionDep,
    key: Admin,
) -> MatchingRuleRead:
    """Change the keys sent (standard rules too; `{"active": false}` turns one off). New
    `conditions` without an `expression` reset it to all conditions. The next save uses it."""
    updated = svc.update_matching_rule(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        rule_id=rule,
        body=_body(body),
        region=region_of(request),
    )
    return _matching(session, updated, entity)


@router.delete(
    "/v1/entities/{entity}/matching-rules/{rule}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        **WRITE_ERRORS,
        409: {
            **WRITE_ERRORS[409],
            "description": "`conflict`: a standard rule (deactivate it instead), or one a "
            "duplicate rule uses (`details.duplicate_rules`).",
        },
    },
)
def delete_matching_rule(
    entity: str, rule: RuleRef, request: Request, session: SessionDep, key: Admin
) -> Response:
    svc.delete_matching_rule(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        rule_id=rule,
        region=region_of(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/matching-methods", response_model=list[MatchingMethodRead], responses=ERRORS)
def matching_methods(key: Reader) -> list[MatchingMethodRead]:
    """The comparison methods a matching-rule condition can use, with the field types each
    compares and its default threshold."""
    return [
        MatchingMethodRead(
            name=m.name,
            description=m.description,
            default_threshold=m.default_threshold,
            field_types=sorted(t.value for t in m.types),
            blockable=m.block is not None,
        )
        for m in METHODS.values()
    ]


# --- duplicate rules -----------------------------------------------------------------------


def _duplicates(
    session: Session, workspace_id: str, rules: Sequence[DuplicateRule], entity: str
) -> list[DuplicateRuleRead]:
    stats = svc.rule_stats(session, workspace_id, [r.id for r in rules])
    return [
        DuplicateRuleRead(
            id=r.id,
            name=r.name,
            description=r.description,
            entity=entity,
            matching_rules=list(r.matching_rule_ids),
            action_on_create=r.action_on_create,  # type: ignore[arg-type]
            action_on_edit=r.action_on_edit,  # type: ignore[arg-type]
            report=r.report,
            include_deleted=r.include_deleted,
            active=r.active,
            standard=r.standard,
            version=r.version,
            stats=RuleStats.model_validate(stats[r.id]),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rules
    ]


@router.get(
    "/v1/entities/{entity}/duplicate-rules",
    response_model=list[DuplicateRuleRead],
    responses=ERRORS,
)
def list_duplicate_rules(entity: str, session: SessionDep, key: Reader) -> list[DuplicateRuleRead]:
    """The entity's duplicate rules, oldest first, with their statistics."""
    rules = svc.list_duplicate_rules(session=session, workspace_id=key.workspace_id, entity=entity)
    return _duplicates(session, key.workspace_id, rules, entity)


@router.post(
    "/v1/entities/{entity}/duplicate-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=DuplicateRuleRead,
    responses=WRITE_ERRORS,
)
def create_duplicate_rule(
    entity: str, body: DuplicateRuleCreate, session: SessionDep, key: Admin
) -> DuplicateRuleRead:
    """What a save that one of the matching rules (1 to 3, by id or name) matches does:
    `block` (409 `duplicates_detected` naming the matches, unless the call sends
    `X-Duplicate-Rule-Header: allowSave=true`) or `allow` (saved, the matches listed in
    `duplicates`), on create and on edit; `report` files the matches as a duplicate record
    set. Records in the recycle bin count only with `include_deleted`. Applies to every save
    path (API, bulk, upsert, import, forms) from the next request on."""
    rule = svc.create_duplicate_rule(
        session=session, workspace_id=key.workspace_id, entity=entity, body=_body(body)
    )
    return _duplicates(session, key.workspace_id, [rule], entity)[0]


@router.get(
    "/v1/entities/{entity}/duplicate-rules/{rule}",
    response_model=DuplicateRuleRead,
    responses=ERRORS,
)
def get_duplicate_rule(
    entity: str, rule: RuleRef, session: SessionDep, key: Reader
) -> DuplicateRuleRead:
    found = svc.get_duplicate_rule(
        session=session, workspace_id=key.workspace_id, entity=entity, rule_id=rule
    )
    return _duplicates(session, key.workspace_id, [found], entity)[0]


@router.patch(
    "/v1/entities/{entity}/duplicate-rules/{rule}",
    response_model=DuplicateRuleRead,
    responses=WRITE_ERRORS,
)
def update_duplicate_rule(
    entity: str, rule: RuleRef, body: DuplicateRuleUpdate, session: SessionDep, key: Admin
) -> DuplicateRuleRead:
    """Change the keys sent (standard rules too; `{"active": false}` turns one off). The
    next save uses it."""
    updated = svc.update_duplicate_rule(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        rule_id=rule,
        body=_body(body),
    )
    return _duplicates(session, key.workspace_id, [updated], entity)[0]


@router.delete(
    "/v1/entities/{entity}/duplicate-rules/{rule}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        **WRITE_ERRORS,
        409: {
            **WRITE_ERRORS[409],
            "description": "`conflict`: a standard rule; deactivate it instead.",
        },
    },
)
def delete_duplicate_rule(entity: str, rule: RuleRef, session: SessionDep, key: Admin) -> Response:
    """Delete a custom duplicate rule; its audit entries stay."""
    svc.delete_duplicate_rule(
        session=session, workspace_id=key.workspace_id, entity=entity, rule_id=rule
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
