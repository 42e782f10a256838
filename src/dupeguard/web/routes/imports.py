"""Import: upload a CSV → map its columns and pick the duplicate detection action → preview
(when the action is Skip or Update and the entity has match keys) → start → progress → report.

Every step is a call to :mod:`dupeguard.services.imports`, as the API's ``/v1/imports`` makes
them; the import runs in the same background runner (a thread of the server). Imports write
records, so like the API's ``write`` scope they are open to every signed-in user (members
included), not only admins.

Uploads: ``POST /imports/new`` (multipart) may carry up to the app's import limit
(``app.state.import_max_bytes``), not the 10 MiB of other bodies: ``create_app`` gives this path
:data:`UPLOAD_PATH` its own body limit (the import limit plus :data:`UPLOAD_SLACK` for the
form's other parts), and a file over the import limit is refused here with the service's
message on the upload page, nothing stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile

from ...api.deps import SessionDep, region_of
from ...core.errors import ConflictError, ValidationError
from ...services import imports as svc
from ...services.entities import list_entities, list_fields, match_key_fields
from ...services.import_csv import MAX_FILE_BYTES, FileTooLarge
from ...services.intake import MODES
from ...store.session import session_scope
from ...store.tables import Import
from ..auth import Viewer, ViewerDep
from ..pages import Pager, flash, page_router, redirect, render, run_once

__all__ = ["UPLOAD_PATH", "UPLOAD_SLACK", "router"]

router = page_router()

UPLOAD_PATH = "/imports/new"
UPLOAD_SLACK = 1024 * 1024
"""Bytes allowed on top of the import limit for the upload form's other parts (CSRF token,
nonce, entity, multipart boundaries)."""
PAGE_SIZE = 50
ROW_PAGE = 100
#: the report's decision filter, conflicts first
REPORT_ORDER = ("conflict", "blocked", "error", "updated", "skipped", "created")
MODE_LABELS = {"skip": "Skip duplicates", "update": "Update existing", "off": "Off, always create"}
_EDITABLE = ("uploaded", "mapped", "previewed")
ImportId = Annotated[str, Path(max_length=64)]
After = Annotated[str | None, Query(max_length=20)]
DecisionQ = Annotated[str | None, Query(max_length=16)]


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _limit(request: Request) -> int:
    return int(getattr(request.app.state, "import_max_bytes", MAX_FILE_BYTES))


def _filter(decision: str | None) -> str | None:
    """The service's decision filter for the ``decision`` query parameter (``all``: none)."""
    return None if decision in (None, "", "all") else decision


def _progress(item: Import) -> dict[str, Any]:
    status = svc.status_of(item)
    return {
        "status": status,
        "processed_rows": item.processed_rows,
        "row_count": item.row_count,
        "progress": round(item.processed_rows / item.row_count, 4) if item.row_count else 0.0,
        "done": status != "running",
    }


# --- list and upload -----------------------------------------------------------------------


@router.get("/imports")
def imports_list(
    request: Request, viewer: ViewerDep, session: SessionDep, after: After = None
) -> Response:
    found, next_cursor = svc.list_imports(
        session=session, workspace_id=viewer.workspace_id, limit=PAGE_SIZE, cursor=after
    )
    names = {e.id: e.name for e in list_entities(session=session, workspace_id=viewer.workspace_id)}
    items = [(i, names.get(i.entity_id, ""), svc.status_of(i)) for i in found]
    pages = Pager("/imports", {}, after, next_cursor)
    return render(request, "imports/list.html", {"items": items, "pages": pages})


def _upload_form(
    request: Request, viewer: Viewer, session: Session, entity: str, status_code: int = 200
) -> Response:
    entities = list_entities(session=session, workspace_id=viewer.workspace_id)
    return render(
        request,
        "imports/upload.html",
        {
            "entities": entities,
            "entity": entity,
            "max_bytes": _limit(request),
            "max_mib": f"{_limit(request) / (1024 * 1024):g}",
        },
        status_code=status_code,
    )


@router.get(UPLOAD_PATH)
def upload_form(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    entity: Annotated[str, Query(max_length=64)] = "contact",
) -> Response:
    return _upload_form(request, viewer, session, entity)


@router.post(UPLOAD_PATH)
def upload(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    form = request.state.form
    entity = form.get("entity")
    entity = entity if isinstance(entity, str) and entity else "contact"
    part = form.get("file")
    limit = _limit(request)
    try:
        if not isinstance(part, UploadFile) or not part.filename:
            raise ValidationError("Choose a CSV file to upload.", details={"field": "file"})
        part.file.seek(0)
        content = part.file.read(limit + 1)
        if len(content) > limit:
            raise FileTooLarge(limit)
        filename = part.filename
        session.commit()  # the upload takes the write lock in a session of its own

        def work(write: Session) -> str:
            item = svc.upload(
                session=write,
                workspace_id=viewer.workspace_id,
                entity=entity,
                filename=filename,
                content=content,
                max_bytes=limit,
            )
            return f"/imports/{item.id}/mapping"

        return run_once(request, viewer, work)
    except (ValidationError, FileTooLarge) as exc:
        session.rollback()
        flash(request, f"The file was not imported: {exc.message}.", "error")
        return _upload_form(request, viewer, session, entity, status_code=400)
    finally:
        for value in form.values():  # the parsed form's temporary files
            if isinstance(value, UploadFile):
                value.file.close()


# --- mapping -------------------------------------------------------------------------------


@router.get("/imports/{import_id}/mapping")
def mapping_form(
    request: Request, viewer: ViewerDep, session: SessionDep, import_id: ImportId
) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    if item.status not in _EDITABLE:
        return redirect(f"/imports/{item.id}")
    return _mapping_page(request, viewer, session, item, dict(item.mapping), item.dedup_mode)


def _mapping_page(
    request: Request,
    viewer: Viewer,
    session: Session,
    item: Import,
    mapping: dict[str, str],
    mode: str,
    status_code: int = 200,
) -> Response:
    entity = svc.entity_of(session, item)
    fields = list_fields(session=session, workspace_id=viewer.workspace_id, entity=entity)
    keys = match_key_fields(session=session, entity_id=item.entity_id)
    return render(
        request,
        "imports/mapping.html",
        {
            "item": item,
            "entity": entity,
            "fields": fields,
            "keys": keys,
            "columns": list(enumerate(item.columns)),
            "mapping": mapping,
            "mode": mode,
            "modes": [(m, MODE_LABELS[m]) for m in MODES],
            "previews": bool(keys) and mode != "off",
        },
        status_code=status_code,
    )


@router.post("/imports/{import_id}/mapping")
def save_mapping(
    request: Request, viewer: ViewerDep, session: SessionDep, import_id: ImportId
) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    form = request.state.form
    mapping: dict[str, str] = {}
    for position, column in enumerate(item.columns):
        target = form.get(f"map-{position}")
        mapping[column] = target if isinstance(target, str) else ""
    mode = form.get("dedup_mode")
    mode = mode if isinstance(mode, str) else "skip"
    action = form.get("action")
    has_keys = bool(match_key_fields(session=session, entity_id=item.entity_id))
    session.commit()  # the writes below take the write lock in sessions of their own
    started: list[bool] = []

    def work(write: Session) -> str:
        saved = svc.set_mapping(
            session=write,
            workspace_id=viewer.workspace_id,
            import_id=import_id,
            mapping=mapping,
            dedup_mode=mode,
        )
        if has_keys and saved.dedup_mode != "off":
            # never write before a preview when duplicate detection applies
            return f"/imports/{import_id}/preview"
        if action != "start":
            # sent as "Preview Import" without JavaScript, but there is nothing to preview
            flash(request, "Duplicate detection is off for this import: nothing to preview.")
            return f"/imports/{import_id}/mapping"
        write.commit()
        svc.start(session=write, workspace_id=viewer.workspace_id, import_id=import_id)
        started.append(True)
        return f"/imports/{import_id}"

    try:
        response = run_once(request, viewer, work)
    except (ValidationError, ConflictError) as exc:
        if isinstance(exc, ConflictError):
            flash(request, exc.message, "error")
            return redirect(f"/imports/{import_id}")
        flash(request, exc.message, "error")
        with session_scope(_sessions(request)) as read:
            again = svc.get(session=read, workspace_id=viewer.workspace_id, import_id=import_id)
            return _mapping_page(
                request,
                viewer,
                read,
                again,
                {c: t for c, t in mapping.items() if t},
                mode if mode in MODES else "skip",
                status_code=400,
            )
    if started:
        _launch(request, viewer, import_id)
    return response


# --- preview, start, progress, report --------------------------------------------------------


@router.get("/imports/{import_id}/preview")
def preview_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    import_id: ImportId,
    decision: DecisionQ = None,
    after: After = None,
) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    if item.status == "uploaded":
        return redirect(f"/imports/{item.id}/mapping")
    if item.status not in _EDITABLE:
        return redirect(f"/imports/{item.id}")
    entity = svc.entity_of(session, item)
    session.commit()  # the preview writes the import's status in a session of its own
    result = svc.preview(
        sessions=_sessions(request),
        workspace_id=viewer.workspace_id,
        import_id=import_id,
        region=region_of(request),
        decision=_filter(decision),
        limit=ROW_PAGE,
        cursor=after,
    )
    pages = Pager(
        f"/imports/{import_id}/preview", {"decision": decision}, after, result.next_cursor
    )
    return render(
        request,
        "imports/preview.html",
        {
            "item": item,
            "entity": entity,
            "mode_label": MODE_LABELS.get(item.dedup_mode, item.dedup_mode),
            "counts": result.counts,
            "rows": result.rows,
            "decision": decision or "all",
            "decisions": REPORT_ORDER,
            "pages": pages,
        },
    )


@router.post("/imports/{import_id}/start")
def start(request: Request, viewer: ViewerDep, import_id: ImportId) -> Response:
    return _start_or_resume(request, viewer, import_id, svc.start)


@router.post("/imports/{import_id}/resume")
def resume(request: Request, viewer: ViewerDep, import_id: ImportId) -> Response:
    return _start_or_resume(request, viewer, import_id, svc.resume)


def _start_or_resume(request: Request, viewer: Viewer, import_id: str, action: Any) -> Response:
    started: list[bool] = []

    def work(write: Session) -> str:
        action(session=write, workspace_id=viewer.workspace_id, import_id=import_id)
        started.append(True)
        return f"/imports/{import_id}"

    try:
        response = run_once(request, viewer, work)
    except ConflictError as exc:
        flash(request, exc.message.split("; resume it with")[0] + ".", "error")
        return redirect(f"/imports/{import_id}")
    if started:  # a double-submitted form did not run work: nothing to launch
        _launch(request, viewer, import_id)
    return response


def _launch(request: Request, viewer: Viewer, import_id: str) -> None:
    svc.run_in_background(
        _sessions(request), import_id, region=region_of(request), actor=viewer.actor
    )


@router.get("/imports/{import_id}/status")
def status_json(viewer: ViewerDep, session: SessionDep, import_id: ImportId) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    return JSONResponse({"id": item.id, **_progress(item), "counts": item.counts or {}})


@router.get("/imports/{import_id}")
def import_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    import_id: ImportId,
    decision: DecisionQ = None,
    after: After = None,
) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    if item.status in ("uploaded", "mapped"):
        return redirect(f"/imports/{item.id}/mapping")
    if item.status == "previewed":
        return redirect(f"/imports/{item.id}/preview")
    progress = _progress(item)
    counts = dict.fromkeys(svc.DECISIONS, 0) | (item.counts or {})
    if not decision:  # conflicts first: the report opens on them when there are any
        decision = "conflict" if counts.get("conflict") else "all"
    rows, next_cursor = svc.rows(
        session=session,
        workspace_id=viewer.workspace_id,
        import_id=item.id,
        decision=_filter(decision),
        limit=ROW_PAGE,
        cursor=after,
    )
    pages = Pager(f"/imports/{item.id}", {"decision": decision}, after, next_cursor)
    return render(
        request,
        "imports/report.html",
        {
            "item": item,
            "entity": svc.entity_of(session, item),
            "mode_label": MODE_LABELS.get(item.dedup_mode, item.dedup_mode),
            "progress": progress,
            "counts": counts,
            "rows": rows,
            "decision": decision,
            "decisions": REPORT_ORDER,
            "pages": pages,
        },
    )


@router.get("/imports/{import_id}/report.csv")
def report_csv(
    request: Request, viewer: ViewerDep, session: SessionDep, import_id: ImportId
) -> Response:
    item = svc.get(session=session, workspace_id=viewer.workspace_id, import_id=import_id)
    return StreamingResponse(
        svc.report_lines(_sessions(request), item.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{item.id}-report.csv"'},
    )
