"""Merges and their undo, record links, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...services import links as link_svc
from ...services import merges as svc
from ...services import records as record_svc
from ...store.tables import AuditEntry, Entity, Merge, RecordLink, utcnow
from ..deps import Reader, SessionDep, Writer, actor_of, region_of
from ..errors import error_responses
from ..idempotent import IdempotencyKey, run_idempotent
from ..schemas.common import IsoDateTime
from ..schemas.merges import (
    AuditEntryRead,
    AuditPage,
    LinkCreate,
    LinkPage,
    LinkRead,
    MergeCreate,
    MergePage,
    MergeRead,
    MergeResult,
)
from .records import _read

router = APIRouter(tags=["merges"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
WRITE_ERRORS = error_responses(
    "validation_error",
    "invalid_key",
    "insufficient_permissions",
    "not_found",
    "conflict",
    "idempotency_conflict",
    "rate_limited",
)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _merges(session: Session, items: list[Merge]) -> list[MergeRead]:
    names = dict(
        session.execute(
            select(Entity.id, Entity.name).where(Entity.id.in_({m.entity_id for m in items}))
        ).all()
    )
    now = utcnow()
    return [
        MergeRead(
            id=m.id,
            entity=names.get(m.entity_id, ""),
            primary_id=m.primary_id,
            duplicate_ids=list(m.duplicate_ids),
            choices=dict(m.choices),
            changes=dict(m.snapshot.get("changes", {})),
            moved=svc.moved_counts(m.snapshot),
            actor=m.actor,
            created_at=m.created_at,
            undone_at=m.undone_at,
            undo_deadline=svc.undo_deadline(m),
            undoable=m.undone_at is None and now <= svc.undo_deadline(m),
        )
        for m in items
    ]


def _merge_result(session: Session, item: Merge, entity: str) -> dict[str, Any]:
    record = record_svc.get_record(
        session=session, workspace_id=item.workspace_id, entity=entity, record_id=item.primary_id
    )
    read = _merges(session, [item])[0]
    result = MergeResult(**read.model_dump(), record=_read(session, record, entity))
    return result.model_dump(mode="json")


@router.post(
    "/v1/entities/{entity}/merges",
    status_code=status.HTTP_201_CREATED,
    response_model=MergeResult,
    responses=WRITE_ERRORS,
)
def create_merge(
    entity: str,
    body: MergeCreate,
    request: Request,
    key: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Merge 1-10 duplicates into the primary record: values field by field (`choices`, else
    the primary's non-empty value, else the most recently updated duplicate's), links,
    activity, tags and lists move to the primary; the duplicates are soft-deleted with
    `merged_into`. Undo within 30 days with `POST /v1/merges/{id}/undo`."""

    def work(session: Session) -> dict[str, Any]:
        item = svc.merge(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            primary_id=body.primary_id,
            duplicate_ids=body.duplicate_ids,
            choices=body.choices,
            source="api",
            actor=actor_of(key),
            region=region_of(request),
            request_id=_request_id(request),
        )
        return _merge_result(session, item, entity)

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        work=work,
    )


@router.post("/v1/merges/{merge_id}/undo", response_model=MergeResult, responses=WRITE_ERRORS)
def undo_merge(
    merge_id: str, request: Request, key: Writer, idempotency_key: IdempotencyKey = None
) -> Any:
    """Restore every record and relation of the merge exactly as before. Refused (`conflict`,
    with the reason) when undone already, older than 30 days, or when a record changed since
    the merge (edited, merged again, deleted permanently)."""

    def work(session: Session) -> dict[str, Any]:
        item = svc.undo(
            session=session,
            workspace_id=key.workspace_id,
            merge_id=merge_id,
            source="api",
            actor=actor_of(key),
            region=region_of(request),
            request_id=_request_id(request),
        )
        entity = session.scalar(select(Entity.name).where(Entity.id == item.entity_id)) or ""
        return _merge_result(session, item, entity)

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body={"merge_id": merge_id},
        status_code=status.HTTP_200_OK,
        work=work,
    )


@router.get("/v1/merges/{merge_id}", response_model=MergeRead, responses=ERRORS)
def get_merge(merge_id: str, session: SessionDep, key: Reader) -> MergeRead:
    item = svc.get_merge(session=session, workspace_id=key.workspace_id, merge_id=merge_id)
    return _merges(session, [item])[0]


@router.get("/v1/merges", response_model=MergePage, responses=ERRORS)
def list_merges(
    session: SessionDep,
    key: Reader,
    entity: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    record_id: Annotated[
        str | None, Query(min_length=1, max_length=36, description="As primary or duplicate.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MergePage:
    """Merges, newest first."""
    items, next_cursor = svc.list_merges(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        record_id=record_id,
        limit=limit,
        cursor=cursor,
    )
    return MergePage(data=_merges(session, items), next_cursor=next_cursor)


# --- links ---------------------------------------------------------------------------------


def _link(link: RecordLink, record_id: str) -> LinkRead:
    return LinkRead(
        id=link.id,
        record_id=link.record_id,
        target_id=link.target_id,
        label=link.label,
        direction="outgoing" if link.record_id == record_id else "incoming",
        created_at=link.created_at,
    )


@router.post(
    "/v1/entities/{entity}/records/{record_id}/links",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkRead,
    responses=WRITE_ERRORS,
)
def create_link(
    entity: str,
    record_id: str,
    body: LinkCreate,
    request: Request,
    key: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Link the record to another live record of the workspace (any entity)."""

    def work(session: Session) -> dict[str, Any]:
        link = link_svc.create_link(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            record_id=record_id,
            target_id=body.target_id,
            label=body.label,
        )
        session.flush()
        return _link(link, link.record_id).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        work=work,
    )


@router.get(
    "/v1/entities/{entity}/records/{record_id}/links", response_model=LinkPage, responses=ERRORS
)
def list_links(
    entity: str,
    record_id: str,
    session: SessionDep,
    key: Reader,
    limit: Annotated[int, Query(ge=1, le=link_svc.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LinkPage:
    """Links from and to the record (`direction` says which), oldest first."""
    rows, next_cursor = link_svc.list_links(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        record_id=record_id,
        limit=limit,
        cursor=cursor,
    )
    return LinkPage(data=[_link(row, record_id) for row in rows], next_cursor=next_cursor)


@router.delete("/v1/links/{link_id}", response_model=LinkRead, responses=WRITE_ERRORS)
def delete_link(link_id: str, request: Request, key: Writer) -> Any:
    def work(session: Session) -> dict[str, Any]:
        link = link_svc.delete_link(session=session, workspace_id=key.workspace_id, link_id=link_id)
        return _link(link, link.record_id).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=None,
        body=None,
        status_code=status.HTTP_200_OK,
        work=work,
    )


# --- audit log -----------------------------------------------------------------------------


def _entry(entry: AuditEntry) -> AuditEntryRead:
    return AuditEntryRead(
        id=entry.id,
        kind=entry.kind,
        entity=entry.entity,
        source=entry.source,
        record_id=entry.record_id,
        matched_ids=list(entry.matched_ids),
        rule_id=entry.rule_id,
        rule_name=entry.rule_name,
        action=entry.action,
        actor=entry.actor,
        override=entry.override,
        details=dict(entry.details),
        request_id=entry.request_id,
        created_at=entry.created_at,
    )


@router.get("/v1/audit-log", response_model=AuditPage, responses=ERRORS)
def audit_log(
    session: SessionDep,
    key: Reader,
    kind: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            description="merge, undo, not_duplicate, duplicate_job, and from duplicate rules "
            "duplicate_alert (allowed with an alert), duplicate_blocked, duplicate_override "
            "(a block lifted by `allowSave=true`; `override` is true).",
        ),
    ] = None,
    entity: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    record_id: Annotated[
        str | None,
        Query(min_length=1, max_length=36, description="The entry's record or a matched one."),
    ] = None,
    rule_id: Annotated[
        str | None,
        Query(min_length=1, max_length=36, description="The duplicate rule's id."),
    ] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    created_after: Annotated[IsoDateTime | None, Query(description="ISO 8601")] = None,
    created_before: Annotated[IsoDateTime | None, Query(description="ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """Every duplicate decision, override, merge and undo, newest first."""
    rows, next_cursor = svc.audit_entries(
        session=session,
        workspace_id=key.workspace_id,
        kind=kind,
        entity=entity,
        record_id=record_id,
        rule_id=rule_id,
        actor=actor,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )
    return AuditPage(data=[_entry(r) for r in rows], next_cursor=next_cursor)
