"""Duplicates review: the queue of open duplicate record sets, one set side by side with Merge /
Not a duplicate / Skip, duplicate jobs (start, progress, cancel), undo of a merge, and the
review panel of a record's detail page (its open sets and its merges).

Every read and write goes through the services (record_sets, merges, duplicate_jobs); this
module only shapes their results for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ...api.deps import SessionDep, region_of
from ...core.errors import ConflictError, NotFoundError, ValidationError
from ...services import crypto, intake, merges, rules
from ...services import duplicate_jobs as jobs
from ...services import record_sets as sets
from ...services.entities import list_entities
from ...store.session import begin_write
from ...store.tables import Activity, DuplicateJob, DuplicateRule, Entity, Merge, Record
from ..auth import AdminDep, Viewer, ViewerDep
from ..pages import Pager, _url, flash, page_router, redirect, render, run_once

router = page_router()

PAGE_SIZE = 50
NAME_FIELDS = (("first_name", "last_name"), ("name",), ("company",), ("email",))


# --- helpers -------------------------------------------------------------------------------


def _score(value: str | None) -> float | None:
    """The queue's "minimum similarity" (percent, 0-100) as the service's 0-1 fraction."""
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationError("Minimum similarity: a number from 0 to 100.") from None
    if not 0.0 <= number <= 100.0:
        raise ValidationError("Minimum similarity: a number from 0 to 100.")
    return number / 100.0


def display_name(data: dict[str, Any], record_id: str) -> str:
    """A short label for a record: its name, company or e-mail, else its id."""
    for names in NAME_FIELDS:
        parts = [str(data[n]).strip() for n in names if data.get(n) not in (None, "", [])]
        if parts:
            return " ".join(parts)
    return record_id


def _filters(entity: str | None, min_score: str | None) -> dict[str, str]:
    return {k: v for k, v in {"entity": entity, "min_score": min_score}.items() if v}


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _plain(session: Session, records: list[Record]) -> dict[str, dict[str, Any]]:
    """Each record's values in plaintext (encrypted fields opened, as on the record page)."""
    encrypted: dict[str, list[str]] = {}
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.entity_id not in encrypted:
            encrypted[record.entity_id] = intake.encrypted_names(
                session=session, entity_id=record.entity_id
            )
        out[record.id] = crypto.unseal(record.data, encrypted[record.entity_id])
    return out


def _job_json(session: Session, job: DuplicateJob) -> dict[str, Any]:
    seen = jobs.view(session, job)
    return {
        "id": job.id,
        "entity": seen.entity,
        "method": job.method,
        "status": seen.status,
        "stage": job.stage,
        "progress": round(float(job.progress or 0.0), 4),
        "records_scanned": job.records_scanned,
        "pairs_found": job.pairs_found,
        "sets_found": job.sets_found,
        "error": seen.error,
        "active": seen.status in jobs.ACTIVE,
    }


def _job_forms(session: Session, workspace_id: str) -> dict[str, Any]:
    """What the "find duplicates" forms offer: scannable entities and active matching rules."""
    entities = [
        e for e in list_entities(session=session, workspace_id=workspace_id) if e.name != ""
    ]
    scannable = [e for e in entities if e.name in jobs.SCANNABLE]
    rule_options: list[tuple[str, str]] = []
    for e in entities:
        for rule in rules.list_matching_rules(
            session=session, workspace_id=workspace_id, entity=e.name
        ):
            if rule.active and rule.against_entity_id is None:
                rule_options.append((f"{e.name}|{rule.id}", f"{e.label or e.name}: {rule.name}"))
    return {"entities": entities, "scannable": scannable, "rule_options": rule_options}


# --- the queue -----------------------------------------------------------------------------


@router.get("/duplicates")
def queue(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    min_score: Annotated[str | None, Query(max_length=8)] = None,
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    entity = entity or None
    try:
        minimum = _score(min_score)
        found, next_cursor = sets.list_sets(
            session=session,
            workspace_id=viewer.workspace_id,
            entity=entity,
            min_similarity=minimum,
            limit=PAGE_SIZE,
            cursor=after,
        )
    except (ValidationError, NotFoundError) as exc:
        flash(request, exc.message, "error")
        return redirect("/duplicates")
    members = sets.members_of(session=session, set_ids=[s.id for s in found])
    names = sets.entity_names(session=session, entity_ids=[s.entity_id for s in found])
    record_ids = [m.record_id for ms in members.values() for m in ms]
    records = list(session.scalars(select(Record).where(Record.id.in_(record_ids))))
    plain = _plain(session, [r for r in records if r.workspace_id == viewer.workspace_id])
    rule_names = _rule_names(session, {s.rule_id for s in found if s.rule_id})
    rows = [
        {
            "set": s,
            "entity": names.get(s.entity_id, ""),
            "names": [display_name(plain.get(m.record_id, {}), m.record_id) for m in members[s.id]],
            "rule": rule_names.get(s.rule_id or ""),
        }
        for s in found
    ]
    latest, _ = jobs.list_jobs(session=session, workspace_id=viewer.workspace_id, limit=1)
    filters = _filters(entity, min_score)
    return render(
        request,
        "duplicates/queue.html",
        {
            "rows": rows,
            "entity": entity or "",
            "min_score": min_score or "",
            "filters": filters,
            "pages": Pager("/duplicates", filters, after, next_cursor),
            "latest": _job_json(session, latest[0]) if latest else None,
            **_job_forms(session, viewer.workspace_id),
        },
    )


def _rule_names(session: Session, rule_ids: set[str]) -> dict[str, str]:
    """Names of the duplicate rules that reported sets (a set's ``rule_id``)."""
    if not rule_ids:
        return {}
    return dict(
        session.execute(
            select(DuplicateRule.id, DuplicateRule.name).where(DuplicateRule.id.in_(rule_ids))
        ).all()
    )


@router.get("/duplicates/next")
def next_item(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    min_score: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """Skip: the next open set in the queue's order after ``after`` (or the queue when none)."""
    return redirect(_next_path(session, viewer, after, entity or None, min_score or None))


def _next_path(
    session: Session,
    viewer: Viewer,
    after: str | None,
    entity: str | None,
    min_score: str | None,
    *,
    wrap: bool = False,
) -> str:
    """The next set's page (the queue when there is none). ``wrap`` (after a decision: the
    decided set left the queue) starts again from the top when nothing follows."""
    filters = _filters(entity, min_score)
    try:
        found = sets.next_set(
            session=session,
            workspace_id=viewer.workspace_id,
            after_set_id=after,
            entity=entity,
            min_similarity=_score(min_score),
        )
        if found is None and wrap and after:
            found = sets.next_set(
                session=session,
                workspace_id=viewer.workspace_id,
                after_set_id=None,
                entity=entity,
                min_similarity=_score(min_score),
            )
            if found is not None and found.id == after:
                found = None
    except (ValidationError, NotFoundError):
        found, filters = None, {}
    return _url("/duplicates" if found is None else f"/duplicates/{found.id}", **filters)


# --- one set -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    field: str
    values: list[Any]  # one per column
    matched: bool
    differs: bool
    auto: dict[str, Any]  # survivor id -> the value the merge keeps by default


def _review(session: Session, viewer: Viewer, set_id: str) -> dict[str, Any]:
    found = sets.get_set(session=session, workspace_id=viewer.workspace_id, set_id=set_id)
    ordered = [found.records[m.record_id] for m in found.members if m.record_id in found.records]
    live = [r for r in ordered if r.deleted_at is None and r.merged_into is None]
    plain = _plain(session, ordered)
    matched = {f for p in found.pairs for f in p.matched_fields}
    fields = sorted({name for values in plain.values() for name in values})
    fields.sort(key=lambda f: (f not in matched, f))
    updated = {r.id: r.updated_at for r in live}
    ids = [r.id for r in live]
    auto = {
        survivor: merges.merged_values(
            survivor, [i for i in ids if i != survivor], plain, updated, {}
        )
        for survivor in ids
    }
    rows = []
    for name in fields:
        values = [plain[r.id].get(name) for r in ordered]
        shown = {repr(v) for v in values if v not in (None, "", [])}
        rows.append(
            Row(
                field=name,
                values=values,
                matched=name in matched,
                differs=len(shown) > 1,
                auto={s: auto[s].get(name) for s in ids},
            )
        )
    primary = next((m.record_id for m in found.members if m.is_primary), None)
    default_survivor = primary if primary in ids else (ids[0] if ids else None)
    labels = {r.id: display_name(plain[r.id], r.id) for r in ordered}
    return {
        "detail": found,
        "columns": ordered,
        "live_ids": ids,
        "labels": labels,
        "rows": rows,
        "survivor": default_survivor,
        "can_merge": found.record_set.status == "open" and len(ids) >= 2,
        "rule": _rule_names(
            session, {found.record_set.rule_id} if found.record_set.rule_id else set()
        ),
    }


@router.get("/duplicates/{set_id}")
def review(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    set_id: Annotated[str, Path(max_length=64)],
    entity: Annotated[str | None, Query(max_length=64)] = None,
    min_score: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    context = _review(session, viewer, set_id)
    filters = _filters(entity or None, min_score or None)
    return render(
        request,
        "duplicates/review.html",
        {**context, "filters": filters, "skip_url": _skip_url(set_id, filters)},
    )


def _skip_url(set_id: str, filters: dict[str, str]) -> str:
    return _url("/duplicates/next", after=set_id, **filters)


def _form(request: Request) -> Any:
    return request.state.form


@router.post("/duplicates/{set_id}/merge")
def merge_set(
    request: Request,
    viewer: ViewerDep,
    set_id: Annotated[str, Path(max_length=64)],
) -> Response:
    form = _form(request)
    survivor = str(form.get("survivor", ""))
    entity, min_score = form.get("entity") or None, form.get("min_score") or None
    choices = {
        str(k)[len("choice.") :]: str(v)
        for k, v in form.multi_items()
        if str(k).startswith("choice.") and v
    }

    def work(session: Session) -> str:
        begin_write(session)  # the set is read and changed under the write lock
        found = sets.get_set(session=session, workspace_id=viewer.workspace_id, set_id=set_id)
        if found.record_set.status != "open":
            raise ConflictError(f"This duplicate set is {found.record_set.status} already.")
        live = [
            m.record_id
            for m in found.members
            if (r := found.records.get(m.record_id)) and r.deleted_at is None and not r.merged_into
        ]
        if survivor not in live:
            raise ValidationError("Choose the record that survives the merge.")
        item = merges.merge(
            session=session,
            workspace_id=viewer.workspace_id,
            entity=found.entity,
            primary_id=survivor,
            duplicate_ids=[i for i in live if i != survivor],
            choices=choices,
            source="ui",
            actor=viewer.actor,
            region=region_of(request),
        )
        count = len(item.duplicate_ids)
        flash(
            request,
            f"Merged {count} record{'' if count == 1 else 's'} into {item.primary_id}.",
            "success",
        )
        return _next_path(session, viewer, set_id, entity, min_score, wrap=True)

    return _guarded(request, viewer, work, f"/duplicates/{set_id}")


def _guarded(request: Request, viewer: Viewer, work: Any, back: str) -> Response:
    """run_once, with a refused action (conflict, bad input) shown as a message on ``back``
    (run_once freed the form's nonce, so it can be sent again)."""
    try:
        return run_once(request, viewer, work)
    except (ConflictError, ValidationError) as exc:
        flash(request, exc.message, "error")
        return redirect(back)


@router.post("/duplicates/{set_id}/not-duplicate")
def not_duplicate(
    request: Request,
    viewer: ViewerDep,
    set_id: Annotated[str, Path(max_length=64)],
) -> Response:
    form = _form(request)
    entity, min_score = form.get("entity") or None, form.get("min_score") or None

    def work(session: Session) -> str:
        begin_write(session)  # the set is read and changed under the write lock
        found = sets.get_set(session=session, workspace_id=viewer.workspace_id, set_id=set_id)
        pairs = [(p.primary_id, p.duplicate_id) for p in found.pairs]
        if not pairs:
            raise ConflictError("This set has no pairs left to mark.")
        sets.mark_not_duplicate(
            session=session,
            workspace_id=viewer.workspace_id,
            set_id=set_id,
            pairs=pairs,
            actor=viewer.actor,
        )
        flash(request, "Marked as not a duplicate.", "success")
        return _next_path(session, viewer, set_id, entity, min_score, wrap=True)

    return _guarded(request, viewer, work, f"/duplicates/{set_id}")


# --- jobs ----------------------------------------------------------------------------------


@router.post("/duplicates/jobs")
def start_job(request: Request, viewer: AdminDep) -> Response:
    form = _form(request)
    method = str(form.get("method", "model"))
    entity = str(form.get("entity", ""))
    threshold: float | None = None
    rule_id: str | None = None
    if method == "rule":
        entity, _, rule_id = str(form.get("rule", "")).partition("|")
        if not rule_id:
            flash(request, "Choose a matching rule.", "error")
            return redirect("/duplicates")
    else:
        try:
            threshold = float(str(form.get("threshold", "0.85")))
        except ValueError:
            flash(request, "Threshold: a number from 0 to 1.", "error")
            return redirect("/duplicates")
    sessions = _sessions(request)

    def work(session: Session) -> str:
        job = jobs.create(
            session=session,
            workspace_id=viewer.workspace_id,
            entity=entity,
            threshold=threshold,
            method=method,
            matching_rule_id=rule_id,
            actor=viewer.actor,
        )
        session.commit()  # the runner reads the job from its own sessions
        jobs.run_in_background(sessions, job.id)
        return f"/duplicates/jobs/{job.id}"

    return _guarded(request, viewer, work, "/duplicates")


@router.get("/duplicates/jobs/{job_id}")
def job_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    job_id: Annotated[str, Path(max_length=64)],
) -> Response:
    job = jobs.get(session=session, workspace_id=viewer.workspace_id, job_id=job_id)
    return render(request, "duplicates/job.html", {"job": _job_json(session, job)})


@router.get("/duplicates/jobs/{job_id}/status")
def job_status(
    viewer: ViewerDep, session: SessionDep, job_id: Annotated[str, Path(max_length=64)]
) -> Response:
    """The job's progress as JSON, for the job page's polling."""
    job = jobs.get(session=session, workspace_id=viewer.workspace_id, job_id=job_id)
    return JSONResponse(_job_json(session, job), headers={"Cache-Control": "no-store"})


@router.post("/duplicates/jobs/{job_id}/cancel")
def cancel_job(
    request: Request, viewer: AdminDep, job_id: Annotated[str, Path(max_length=64)]
) -> Response:
    def work(session: Session) -> str:
        jobs.cancel(session=session, workspace_id=viewer.workspace_id, job_id=job_id)
        flash(request, "Cancel requested.", "info")
        return f"/duplicates/jobs/{job_id}"

    return _guarded(request, viewer, work, f"/duplicates/jobs/{job_id}")


# --- undo, and the record page's panel -----------------------------------------------------


@router.post("/merges/{merge_id}/undo")
def undo_merge(
    request: Request, viewer: ViewerDep, merge_id: Annotated[str, Path(max_length=64)]
) -> Response:
    with _sessions(request)() as session:
        item = merges.get_merge(
            session=session, workspace_id=viewer.workspace_id, merge_id=merge_id
        )
        entity = session.scalar(select(Entity.name).where(Entity.id == item.entity_id)) or ""
        back = f"/records/{entity}/{item.primary_id}"

    def work(session: Session) -> str:
        merges.undo(
            session=session,
            workspace_id=viewer.workspace_id,
            merge_id=merge_id,
            source="ui",
            actor=viewer.actor,
            region=region_of(request),
        )
        flash(request, "Merge undone: the merged records are back.", "success")
        return back

    return _guarded(request, viewer, work, back)


def record_review(
    *, session: Session, workspace_id: str, record: Record, activity: list[Activity]
) -> dict[str, Any]:
    """The record page's duplicates panel: the open sets holding the record (its duplicate
    alerts: from jobs and duplicate-rule reports) and the merges it survived (found through
    its ``merged`` activities), each with whether it can still be undone."""
    alerts = sets.open_sets_of_record(
        session=session, workspace_id=workspace_id, record_id=record.id
    )
    merge_ids = [
        str(a.details.get("merge_id"))
        for a in activity
        if a.kind == "merged" and a.details.get("merge_id")
    ]
    found: list[Merge] = merges.merges_by_id(
        session=session, workspace_id=workspace_id, merge_ids=merge_ids
    )
    survived = [m for m in found if m.primary_id == record.id]
    return {
        "dup_alerts": alerts,
        "dup_alert_rules": _rule_names(session, {s.rule_id for s in alerts if s.rule_id}),
        "merges_survived": [
            {"merge": m, "undoable": merges.undoable(m), "deadline": merges.undo_deadline(m)}
            for m in survived
        ],
    }
