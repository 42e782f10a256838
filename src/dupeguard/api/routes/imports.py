"""CSV import: upload → mapping → preview → start → report (services/imports.py).

Uploads are read here, not by FastAPI: the raw body (``Content-Type: text/csv``) or a
``multipart/form-data`` part named ``file``, up to ``app.state.import_max_bytes`` (the body
limit middleware lets this one path past the app-wide limit, up to the same size). Writes run
in their own unit of work (they take the write lock first); a started import runs in a
thread of the server, or in the request with ``?wait=true``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ...core.errors import ValidationError
from ...services import imports as svc
from ...services.import_csv import MAX_FILE_BYTES, FileTooLarge
from ...store.session import session_scope
from ...store.tables import ApiKey, Import
from ..deps import Reader, SessionDep, Writer, actor_of, region_of
from ..errors import error_responses
from ..schemas.imports import (
    ImportPage,
    ImportRead,
    ImportRowPage,
    ImportRowRead,
    MappingUpdate,
    PreviewResponse,
    PreviewRow,
)

__all__ = ["IMPORT_PATH", "router"]

IMPORT_PATH = "/v1/imports"
router = APIRouter(tags=["imports"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
WRITE_ERRORS = {**ERRORS, **error_responses("conflict")}
Decision = Annotated[
    str | None, Query(description="Only rows with this decision (e.g. `conflict`).")
]
Limit = Annotated[int, Query(ge=1, le=svc.MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=20, description="`next_cursor` of the last page.")]
Wait = Annotated[bool, Query(description="Run in the request and answer when done.")]


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _read(session: Session, item: Import) -> ImportRead:
    return ImportRead(
        id=item.id,
        entity=svc.entity_of(session, item),
        filename=item.filename,
        status=svc.status_of(item),  # type: ignore[arg-type]
        columns=list(item.columns),
        row_count=item.row_count,
        mapping=dict(item.mapping),
        dedup_mode=item.dedup_mode,  # type: ignore[arg-type]
        processed_rows=item.processed_rows,
        progress=round(item.processed_rows / item.row_count, 4) if item.row_count else 0.0,
        counts=item.counts or {},  # type: ignore[arg-type]
        error=item.error,
        created_at=item.created_at,
        started_at=item.started_at,
        heartbeat_at=item.heartbeat_at,
        finished_at=item.finished_at,
    )


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The CSV file (UTF-8; delimiter , ; tab or |; a header row).",
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "entity": {"type": "string"},
                    },
                }
            },
        },
    }
}


async def _body(request: Request, limit: int) -> tuple[bytes, str | None, str | None]:
    """(content, filename, entity from the form) of a raw or multipart upload."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=20) as form:  # closes the temp files
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ValidationError(
                    "file: send the CSV as the multipart part named file",
                    details={"field": "file"},
                )
            content = await part.read(limit + 1)
            entity = form.get("entity")
        if len(content) > limit:
            raise FileTooLarge(limit)
        return content, part.filename, entity if isinstance(entity, str) else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks), None, None


@router.post(
    IMPORT_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=ImportRead,
    responses={**ERRORS, **error_responses("payload_too_large")},
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    request: Request,
    key: Writer,
    entity: Annotated[
        str | None, Query(max_length=64, description="Entity to import into, e.g. contact.")
    ] = None,
    filename: Annotated[str | None, Query(max_length=1000)] = None,
) -> Any:
    """Upload a CSV file: checked whole (a bad file is one `validation_error` naming the
    line, nothing stored), then stored with its columns, row count and a suggested mapping."""
    limit = int(getattr(request.app.state, "import_max_bytes", MAX_FILE_BYTES))
    content, part_name, form_entity = await _body(request, limit)
    target = entity or form_entity
    if not target:
        raise ValidationError(
            "entity: name the entity to import into, e.g. ?entity=contact",
            details={"field": "entity"},
        )

    def store() -> dict[str, Any]:
        with session_scope(_sessions(request)) as session:
            item = svc.upload(
                session=session,
                workspace_id=key.workspace_id,
                entity=target,
                filename=filename or part_name,
                content=content,
                max_bytes=limit,
            )
            return _read(session, item).model_dump(mode="json")

    return JSONResponse(await run_in_threadpool(store), status_code=status.HTTP_201_CREATED)


@router.get(IMPORT_PATH, response_model=ImportPage, responses=ERRORS)
def list_imports(
    session: SessionDep, key: Reader, limit: Limit = 50, cursor: Cursor = None
) -> ImportPage:
    """The workspace's imports, newest first."""
    found, next_cursor = svc.list_imports(
        session=session, workspace_id=key.workspace_id, limit=limit, cursor=cursor
    )
    return ImportPage(data=[_read(session, i) for i in found], next_cursor=next_cursor)


@router.get(IMPORT_PATH + "/{import_id}", response_model=ImportRead, responses=ERRORS)
def get_import(import_id: str, session: SessionDep, key: Reader) -> ImportRead:
    """Status, progress and counts."""
    return _read(
        session, svc.get(session=session, workspace_id=key.workspace_id, import_id=import_id)
    )


@router.put(IMPORT_PATH + "/{import_id}/mapping", response_model=ImportRead, responses=WRITE_ERRORS)
def set_mapping(import_id: str, body: MappingUpdate, request: Request, key: Writer) -> ImportRead:
    """Map columns to fields (unmapped columns are ignored) and pick the dedup action;
    allowed until the import starts."""
    with session_scope(_sessions(request)) as session:
        item = svc.set_mapping(
            session=session,
            workspace_id=key.workspace_id,
            import_id=import_id,
            mapping=body.mapping,
            dedup_mode=body.dedup_mode,
        )
        return _read(session, item)


@router.post(
    IMPORT_PATH + "/{import_id}/preview", response_model=PreviewResponse, responses=WRITE_ERRORS
)
def preview(
    import_id: str,
    request: Request,
    key: Writer,
    decision: Decision = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> PreviewResponse:
    """How many rows would be created, updated, skipped, hit conflicts or fail, and each
    row's decision, before any record is written."""
    result = svc.preview(
        sessions=_sessions(request),
        workspace_id=key.workspace_id,
        import_id=import_id,
        region=region_of(request),
        decision=decision,
        limit=limit,
        cursor=cursor,
    )
    return PreviewResponse(
        counts=result.counts,  # type: ignore[arg-type]
        row_count=sum(result.counts.values()),
        data=[PreviewRow.model_validate(r, from_attributes=True) for r in result.rows],
        next_cursor=result.next_cursor,
    )


def _launch(request: Request, key: ApiKey, import_id: str, wait: bool) -> JSONResponse:
    sessions = _sessions(request)
    if wait:
        svc.run(sessions, import_id, region=region_of(request), actor=actor_of(key))
    else:
        svc.run_in_background(sessions, import_id, region=region_of(request), actor=actor_of(key))
    with session_scope(sessions) as session:
        item = svc.get(session=session, workspace_id=key.workspace_id, import_id=import_id)
        body = _read(session, item).model_dump(mode="json")
    return JSONResponse(body, status_code=status.HTTP_200_OK if wait else status.HTTP_202_ACCEPTED)


@router.post(
    IMPORT_PATH + "/{import_id}/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses={**WRITE_ERRORS, 200: {"model": ImportRead, "description": "with wait=true"}},
)
def start(import_id: str, request: Request, key: Writer, wait: Wait = False) -> Any:
    """Start the import (202; poll `GET /v1/imports/{id}`), or run it now with `wait=true`
    (200 when done). Rows are applied in chunks, each with its report rows or not at all."""
    with session_scope(_sessions(request)) as session:
        svc.start(session=session, workspace_id=key.workspace_id, import_id=import_id)
    return _launch(request, key, import_id, wait)


@router.post(
    IMPORT_PATH + "/{import_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses={**WRITE_ERRORS, 200: {"model": ImportRead, "description": "with wait=true"}},
)
def resume(import_id: str, request: Request, key: Writer, wait: Wait = False) -> Any:
    """Continue an `interrupted` or `failed` import after its last applied row."""
    with session_scope(_sessions(request)) as session:
        svc.resume(session=session, workspace_id=key.workspace_id, import_id=import_id)
    return _launch(request, key, import_id, wait)


@router.get(IMPORT_PATH + "/{import_id}/rows", response_model=ImportRowPage, responses=ERRORS)
def list_rows(
    import_id: str,
    session: SessionDep,
    key: Reader,
    decision: Decision = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ImportRowPage:
    """The report: each applied row's decision, record id and matched ids, in row order."""
    found, next_cursor = svc.rows(
        session=session,
        workspace_id=key.workspace_id,
        import_id=import_id,
        decision=decision,
        limit=limit,
        cursor=cursor,
    )
    return ImportRowPage(
        data=[ImportRowRead.model_validate(r, from_attributes=True) for r in found],
        next_cursor=next_cursor,
    )


@router.get(
    IMPORT_PATH + "/{import_id}/report.csv",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "The report."}},
)
def report(import_id: str, request: Request, session: SessionDep, key: Reader) -> StreamingResponse:
    """The report as CSV: row_number, decision, record_id, matched_ids, matched_by,
    changed_fields, error (lists joined with `;`; formula-like cells prefixed with `'`)."""
    item = svc.get(session=session, workspace_id=key.workspace_id, import_id=import_id)
    return StreamingResponse(
        svc.report_lines(_sessions(request), item.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{item.id}-report.csv"'},
    )
