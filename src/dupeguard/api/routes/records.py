"""Records: create, read, list, edit, soft-delete and restore; lists; the workspace summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.orm import Session

from ...services import records as svc
from ...services.credits import balance
from ...services.workspaces import get_workspace
from ...store.tables import ApiKey, List, Record
from ..deps import SessionDep, require
from ..errors import error_responses
from ..idempotent import IdempotencyKey, run_idempotent
from ..schemas.detect import WorkspaceRead
from ..schemas.records import (
    BulkCreate,
    BulkResponse,
    ListCreate,
    ListRead,
    RecordCreate,
    RecordPage,
    RecordRead,
    RecordUpdate,
)

router = APIRouter(tags=["records"])

Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]
ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)


def _read(session: SessionDep, record: Record, entity: str) -> RecordRead:
    tags = svc.tags_of(session=session, record_ids=[record.id])[record.id]
    return RecordRead(
        record_id=record.id,
        id=record.id,
        entity=entity,
        data=record.data,
        tags=tags,
        created_at=record.created_at,
        updated_at=record.updated_at,
        deleted_at=record.deleted_at,
        merged_into=record.merged_into,
        version=record.version,
    )


@router.post(
    "/v1/entities/{entity}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordRead,
    responses=ERRORS,
)
def create_record(
    entity: str,
    body: RecordCreate,
    request: Request,
    key: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    def work(session: Session) -> dict[str, Any]:
        record = svc.create_record(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            data=body.data,
            tags=body.tags,
            list_ids=body.list_ids,
        )
        return _read(session, record, entity).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        work=work,
    )


@router.post("/v1/entities/{entity}/records/bulk", response_model=BulkResponse, responses=ERRORS)
def create_records(
    entity: str,
    body: BulkCreate,
    request: Request,
    key: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Up to 10,000 rows; a result per row in row order; a bad row aborts nothing."""

    def work(session: Session) -> dict[str, Any]:
        results = svc.create_records(
            session=session, workspace_id=key.workspace_id, entity=entity, rows=body.records
        )
        return BulkResponse.model_validate({"results": results}).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        status_code=status.HTTP_200_OK,
        work=work,
    )


@router.get("/v1/entities/{entity}/records", response_model=RecordPage, responses=ERRORS)
def list_records(
    entity: str,
    session: SessionDep,
    key: Reader,
    created_after: Annotated[datetime | None, Query(description="ISO 8601")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    list_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RecordPage:
    rows, next_cursor = svc.list_records(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        scope=svc.RecordFilter(
            created_after=created_after, tag=tag, list_id=list_id, include_deleted=include_deleted
        ),
        limit=limit,
        cursor=cursor,
    )
    tags = svc.tags_of(session=session, record_ids=[r.id for r in rows])
    page = [_read(session, r, entity).model_copy(update={"tags": tags[r.id]}) for r in rows]
    return RecordPage(data=page, next_cursor=next_cursor)


@router.get(
    "/v1/entities/{entity}/records/{record_id}", response_model=RecordRead, responses=ERRORS
)
def get_record(entity: str, record_id: str, session: SessionDep, key: Reader) -> RecordRead:
    record = svc.get_record(
        session=session, workspace_id=key.workspace_id, entity=entity, record_id=record_id
    )
    return _read(session, record, entity)


@router.patch(
    "/v1/entities/{entity}/records/{record_id}", response_model=RecordRead, responses=ERRORS
)
def update_record(
    entity: str, record_id: str, body: RecordUpdate, session: SessionDep, key: Writer
) -> RecordRead:
    record = svc.update_record(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        record_id=record_id,
        data=body.data,
        tags=body.tags,
        list_ids=body.list_ids,
    )
    return _read(session, record, entity)


@router.delete(
    "/v1/entities/{entity}/records/{record_id}", response_model=RecordRead, responses=ERRORS
)
def delete_record(entity: str, record_id: str, session: SessionDep, key: Writer) -> RecordRead:
    """Soft delete: the record moves to the recycle bin; `…/restore` brings it back."""
    record = svc.delete_record(
        session=session, workspace_id=key.workspace_id, entity=entity, record_id=record_id
    )
    return _read(session, record, entity)


@router.post(
    "/v1/entities/{entity}/records/{record_id}/restore",
    response_model=RecordRead,
    responses=ERRORS,
)
def restore_record(entity: str, record_id: str, session: SessionDep, key: Writer) -> RecordRead:
    record = svc.restore_record(
        session=session, workspace_id=key.workspace_id, entity=entity, record_id=record_id
    )
    return _read(session, record, entity)


def _list(item: List) -> ListRead:
    return ListRead(id=item.id, name=item.name, created_at=item.created_at)


@router.post(
    "/v1/lists",
    status_code=status.HTTP_201_CREATED,
    response_model=ListRead,
    responses=error_responses("validation_error", "invalid_key", "conflict"),
)
def create_list(body: ListCreate, session: SessionDep, key: Writer) -> ListRead:
    return _list(svc.create_list(session=session, workspace_id=key.workspace_id, name=body.name))


@router.get("/v1/lists", response_model=list[ListRead], responses=ERRORS)
def list_lists(session: SessionDep, key: Reader) -> list[ListRead]:
    return [_list(item) for item in svc.list_lists(session=session, workspace_id=key.workspace_id)]


@router.get("/v1/workspace", response_model=WorkspaceRead, responses=ERRORS)
def workspace(session: SessionDep, key: Reader) -> WorkspaceRead:
    """Name, credit balance and live record counts per entity."""
    ws = get_workspace(session=session, workspace_id=key.workspace_id)
    counts = svc.record_counts(session=session, workspace_id=key.workspace_id)
    return WorkspaceRead.model_validate(
        {
            "data": {
                "id": ws.id,
                "name": ws.name,
                "credits": balance(session=session, workspace_id=ws.id),
                "record_counts": counts,
                "created_at": ws.created_at,
            }
        }
    )
