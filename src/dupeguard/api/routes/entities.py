"""Entities, fields and match keys: identity lives on the entity (seed 001)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from ...core.fields import FieldType, match_key_ineligibility
from ...services import entities as svc
from ...store.tables import Entity, Field
from ..deps import Admin, Reader, SessionDep, region_of
from ..errors import error_responses
from ..schemas.entities import (
    EntityCreate,
    EntityRead,
    FieldCreate,
    FieldRead,
    FieldUpdate,
    MatchKeys,
)

router = APIRouter(tags=["entities"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "conflict"
)


def field_read(field: Field) -> FieldRead:
    reason = match_key_ineligibility(FieldType(field.type), encrypted=field.encrypted)
    return FieldRead(
        name=field.name,
        label=field.label,
        type=field.type,
        builtin=field.builtin,
        encrypted=field.encrypted,
        options=field.options or {},
        match_key=field.match_key,
        match_key_priority=field.match_key_priority,
        match_key_eligible=reason is None,
        match_key_ineligible_reason=reason,
    )


def _entity_read(session: SessionDep, entity: Entity) -> EntityRead:
    keys = svc.match_key_fields(session=session, entity_id=entity.id)
    return EntityRead(
        name=entity.name,
        label=entity.label,
        builtin=entity.builtin,
        match_keys=[k.name for k in keys],
        created_at=entity.created_at,
    )


@router.get("/v1/entities", response_model=list[EntityRead], responses=ERRORS)
def list_entities(session: SessionDep, key: Reader) -> list[EntityRead]:
    return [
        _entity_read(session, e)
        for e in svc.list_entities(session=session, workspace_id=key.workspace_id)
    ]


@router.post(
    "/v1/entities",
    status_code=status.HTTP_201_CREATED,
    response_model=EntityRead,
    responses=ERRORS,
)
def create_entity(body: EntityCreate, session: SessionDep, key: Admin) -> EntityRead:
    """A custom entity; add its fields with `POST /v1/entities/{entity}/fields`."""
    entity = svc.create_entity(
        session=session, workspace_id=key.workspace_id, name=body.name, label=body.label
    )
    return _entity_read(session, entity)


@router.get("/v1/entities/{entity}/fields", response_model=list[FieldRead], responses=ERRORS)
def list_fields(entity: str, session: SessionDep, key: Reader) -> list[FieldRead]:
    fields = svc.list_fields(session=session, workspace_id=key.workspace_id, entity=entity)
    return [field_read(f) for f in fields]


@router.post(
    "/v1/entities/{entity}/fields",
    status_code=status.HTTP_201_CREATED,
    response_model=FieldRead,
    responses=ERRORS,
)
def create_field(entity: str, body: FieldCreate, session: SessionDep, key: Admin) -> FieldRead:
    field = svc.create_field(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        name=body.name,
        type=body.type,
        label=body.label,
        encrypted=body.encrypted,
        options=body.options,
    )
    return field_read(field)


@router.patch("/v1/entities/{entity}/fields/{field}", response_model=FieldRead, responses=ERRORS)
def update_field(
    entity: str,
    field: str,
    body: FieldUpdate,
    request: Request,
    session: SessionDep,
    key: Admin,
) -> FieldRead:
    """Change a field; `{"match_key": true}` makes it a match key (last in priority), refused
    with the reason for an ineligible type (encrypted, multi-select, location, boolean, file).
    Marking a key indexes the values of the records already stored."""
    updated = svc.update_field(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        name=field,
        label=body.label,
        match_key=body.match_key,
        encrypted=body.encrypted,
        options=body.options,
        region=region_of(request),
    )
    return field_read(updated)


@router.get("/v1/entities/{entity}/match-keys", response_model=MatchKeys, responses=ERRORS)
def get_match_keys(entity: str, session: SessionDep, key: Reader) -> MatchKeys:
    target = svc.entity_of(session=session, workspace_id=key.workspace_id, name=entity)
    return MatchKeys(
        fields=[f.name for f in svc.match_key_fields(session=session, entity_id=target.id)]
    )


@router.put("/v1/entities/{entity}/match-keys", response_model=MatchKeys, responses=ERRORS)
def set_match_keys(
    entity: str, body: MatchKeys, request: Request, session: SessionDep, key: Admin
) -> MatchKeys:
    """Exactly these fields become the match keys, highest priority first (`[]`: none)."""
    fields = svc.set_match_keys(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        fields=body.fields,
        region=region_of(request),
    )
    return MatchKeys(fields=[f.name for f in fields])
