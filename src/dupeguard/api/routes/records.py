"""Records: create, read, list, edit, soft-delete and restore; lists; the workspace summary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from sqlalchemy.orm import Session

from ...core.errors import ValidationError
from ...services import crypto, intake
from ...services import records as svc
from ...services.credits import balance
from ...services.intake import RowError
from ...services.workspaces import get_workspace
from ...store.tables import ApiKey, List, Record
from ..deps import AllowSave, Reader, SessionDep, Writer, actor_of, region_of
from ..errors import error_responses
from ..idempotent import IdempotencyKey, run_idempotent
from ..schemas.common import IsoDateTime
from ..schemas.detect import WorkspaceRead
from ..schemas.records import (
    ActivityRead,
    BulkCreate,
    BulkResponse,
    IntakeResult,
    ListCreate,
    ListRead,
    RecordCreate,
    RecordEdited,
    RecordPage,
    RecordRead,
    RecordUpdate,
    RecordUpsert,
)

router = APIRouter(tags=["records"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
#: a save a duplicate rule may block (409 ``duplicates_detected``, ``details.matches``)
SAVE_ERRORS = {**ERRORS, **error_responses("duplicates_detected")}


def _read(session: SessionDep, record: Record, entity: str) -> RecordRead:
    return _page(session, [record], entity)[0]


def _page(session: SessionDep, records: list[Record], entity: str) -> list[RecordRead]:
    """Records as the API shows them: tags and the names of encrypted fields are read once
    for the whole page, encrypted values decrypted."""
    if not records:
        return []
    tags = svc.tags_of(session=session, record_ids=[r.id for r in records])
    encrypted = intake.encrypted_names(session=session, entity_id=records[0].entity_id)
    return [
        RecordRead(
            record_id=r.id,
            id=r.id,
            entity=entity,
            data=crypto.unseal(r.data, encrypted),
            tags=tags[r.id],
            created_at=r.created_at,
            updated_at=r.updated_at,
            deleted_at=r.deleted_at,
            merged_into=r.merged_into,
            version=r.version,
        )
        for r in records
    ]


@router.post(
    "/v1/entities/{entity}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=IntakeResult,
    responses={
        **SAVE_ERRORS,
        200: {"model": IntakeResult, "description": "updated, skipped or conflict"},
    },
)
def create_record(
    entity: str,
    body: RecordCreate,
    request: Request,
    key: Writer,
    allow_save: AllowSave,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Intake (seed 001): the match keys decide `created` (201), or `updated`, `skipped`,
    `conflict` (200) by the request's `dedup_mode`. A conflict writes nothing.

    Then the entity's duplicate rules: one that blocks answers 409 `duplicates_detected`
    naming the matched records (`error.details.matches`); `X-Duplicate-Rule-Header:
    allowSave=true` saves anyway, audited as an override. An allowed save lists its matches
    in `duplicates`."""

    def work(session: Session) -> dict[str, Any]:
        outcome = intake.submit(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            inbound=intake.Inbound(body.data, body.tags, body.list_ids),
            source="api",
            mode=body.dedup_mode,
            region=region_of(request),
            actor=actor_of(key),
            allow_save=allow_save,
        )
        return _intake_result(session, outcome, key, entity)

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=_fingerprinted(body.model_dump(mode="json"), allow_save),
        status_code=lambda p: 201 if p["decision"] == "created" else 200,
        work=work,
    )


@router.put(
    "/v1/entities/{entity}/records/by/{field}/{value}",
    response_model=IntakeResult,
    responses={
        **ERRORS,
        **error_responses("conflict", "duplicates_detected"),
        201: {"model": IntakeResult, "description": "created"},
    },
)
def upsert_record(
    entity: str,
    field: str,
    value: Annotated[str, Path(min_length=1, max_length=1000)],
    body: RecordUpsert,
    request: Request,
    key: Writer,
    allow_save: AllowSave,
) -> Any:
    """Upsert by an identifying field (e.g. `external_id`): creates the record when none has
    the value (201), updates the one that has it (`updated`, or `skipped` when nothing
    changes), and answers 409 `conflict` listing the records when several have it.

    Duplicate rules apply (`action_on_create` to an insert, `action_on_edit` to an update):
    a block answers 409 `duplicates_detected` with `error.details.matches`, lifted for the
    call by `X-Duplicate-Rule-Header: allowSave=true`; an allowed save lists its matches in
    `duplicates`."""

    def work(session: Session) -> dict[str, Any]:
        outcome = intake.upsert(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            field=field,
            value=value,
            data=body.data,
            region=region_of(request),
            actor=actor_of(key),
            allow_save=allow_save,
        )
        return _intake_result(session, outcome, key, entity)

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=None,
        body=None,
        status_code=lambda p: 201 if p["decision"] == "created" else 200,
        work=work,
    )


def _intake_result(
    session: Session, outcome: intake.Outcome, key: ApiKey, entity: str
) -> dict[str, Any]:
    payload = outcome.payload()
    payload["record"] = None
    if outcome.record_id is not None:
        record = svc.get_record(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            record_id=outcome.record_id,
        )
        payload["record"] = _read(session, record, entity).model_dump(mode="json")
    return IntakeResult.model_validate(payload).model_dump(mode="json")


def _fingerprinted(body: dict[str, Any], allow_save: bool) -> dict[str, Any]:
    """The body an Idempotency-Key is bound to: with the override, when one is sent, so a
    repeat that adds or drops it is a different request."""
    return {**body, "allow_save": True} if allow_save else body


@router.post(
    "/v1/entities/{entity}/records/bulk",
    response_model=BulkResponse,
    responses=ERRORS,
)
def create_records(
    entity: str,
    body: BulkCreate,
    request: Request,
    key: Writer,
    allow_save: AllowSave,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Up to 10,000 rows through intake, decided in order as if sent one after another; a
    result per row in row order; a bad row aborts nothing.

    A row a duplicate rule blocks gets `status` `error`, `error.code` `duplicates_detected`
    and `error.details.matches`; `X-Duplicate-Rule-Header: allowSave=true` lifts the blocks
    for every row of the call (each audited as an override). Allowed rows list their
    matches in `duplicates`."""

    def work(session: Session) -> dict[str, Any]:
        rows: list[intake.Inbound | RowError] = [
            _bulk_row(i, r) for i, r in enumerate(body.records)
        ]
        good = [r for r in rows if isinstance(r, intake.Inbound)]
        decided = iter(
            intake.submit_many(
                session=session,
                workspace_id=key.workspace_id,
                entity=entity,
                rows=good,
                source="api",
                mode=body.dedup_mode,
                region=region_of(request),
                actor=actor_of(key),
                allow_save=allow_save,
            )
        )
        results = []
        for index, row in enumerate(rows):
            result = row if isinstance(row, RowError) else next(decided)
            results.append(_bulk_result(index, result))
        return BulkResponse.model_validate({"results": results}).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=_fingerprinted(body.model_dump(mode="json"), allow_save),
        status_code=status.HTTP_200_OK,
        work=work,
    )


def _bulk_row(index: int, row: Any) -> intake.Inbound | RowError:
    """A bulk row's parts, or the row's error."""
    problem = None
    if not isinstance(row, dict) or set(row) - {"data", "tags", "list_ids"}:
        problem = 'a row is {"data": {...}, "tags": [...], "list_ids": [...]}'
    elif not isinstance(row.get("data", {}), dict):
        problem = "data: an object of field values"
    elif not isinstance(row.get("tags", []), list) or not isinstance(row.get("list_ids", []), list):
        problem = "tags and list_ids are lists"
    elif not all(isinstance(i, str) for i in row.get("list_ids", [])):
        problem = "list_ids: a list of ids"
    if problem is not None:
        return RowError(index, ValidationError(problem, details={"field": f"records[{index}]"}))
    return intake.Inbound(row.get("data") or {}, row.get("tags") or [], row.get("list_ids") or [])


def _bulk_result(index: int, result: intake.Outcome | RowError) -> dict[str, Any]:
    if isinstance(result, RowError):
        error = result.error
        return {
            "index": index,
            "status": "error",
            "error": {"code": error.code, "message": error.message, "details": error.details},
        }
    return {"index": index, "status": result.decision, **result.payload()}


@router.get("/v1/entities/{entity}/records", response_model=RecordPage, responses=ERRORS)
def list_records(
    entity: str,
    session: SessionDep,
    key: Reader,
    created_after: Annotated[IsoDateTime | None, Query(description="ISO 8601")] = None,
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
    return RecordPage(data=_page(session, rows, entity), next_cursor=next_cursor)


@router.get(
    "/v1/entities/{entity}/records/{record_id}", response_model=RecordRead, responses=ERRORS
)
def get_record(entity: str, record_id: str, session: SessionDep, key: Reader) -> RecordRead:
    record = svc.get_record(
        session=session, workspace_id=key.workspace_id, entity=entity, record_id=record_id
    )
    return _read(session, record, entity)


@router.patch(
    "/v1/entities/{entity}/records/{record_id}",
    response_model=RecordEdited,
    responses=SAVE_ERRORS,
)
def update_record(
    entity: str,
    record_id: str,
    body: RecordUpdate,
    request: Request,
    key: Writer,
    allow_save: AllowSave,
) -> Any:
    """Edit: values are checked against the fields, `null` clears one, and the activity feed
    records old and new values.

    Duplicate rules check the edited record with their `action_on_edit`: a block answers 409
    `duplicates_detected` with `error.details.matches`, lifted for the call by
    `X-Duplicate-Rule-Header: allowSave=true`; an allowed edit lists its matches in
    `duplicates`."""

    def work(session: Session) -> dict[str, Any]:
        record, alerts = intake.edit(
            session=session,
            workspace_id=key.workspace_id,
            entity=entity,
            record_id=record_id,
            data=body.data,
            tags=body.tags,
            list_ids=body.list_ids,
            source="api",
            region=region_of(request),
            actor=actor_of(key),
            allow_save=allow_save,
        )
        read = _read(session, record, entity)
        edited = RecordEdited.model_validate({**read.model_dump(), "duplicates": alerts})
        return edited.model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=None,
        body=None,
        status_code=status.HTTP_200_OK,
        work=work,
    )


@router.get(
    "/v1/entities/{entity}/records/{record_id}/activity",
    response_model=list[ActivityRead],
    responses=ERRORS,
)
def record_activity(
    entity: str,
    record_id: str,
    session: SessionDep,
    key: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ActivityRead]:
    """The record's activity feed, newest first: creation, field changes (old and new
    values), deletion and restore, with the source of each."""
    record = svc.get_record(
        session=session, workspace_id=key.workspace_id, entity=entity, record_id=record_id
    )
    return [
        ActivityRead(
            id=a.id,
            kind=a.kind,
            source=a.source,
            changes=a.changes,
            details=a.details,
            created_at=a.created_at,
        )
        for a in intake.record_activity(
            session=session, workspace_id=key.workspace_id, record_id=record.id, limit=limit
        )
    ]


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
