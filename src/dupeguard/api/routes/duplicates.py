"""Duplicate jobs and duplicate record sets (the review queue), and "not a duplicate".

A job runs in a thread of the server (``202``; poll ``GET /v1/duplicate-jobs/{id}``), or in
the request with ``?wait=true``. Duplicate jobs cost no credits (the metered scan is
``POST /v1/ai/detect-duplicates``). Writes run in their own unit of work (they take the
write lock first).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session, sessionmaker

from ...services import duplicate_jobs as jobs
from ...services import record_sets as sets
from ...store.session import session_scope
from ...store.tables import DuplicateJob, DuplicateRecordSet, DuplicateSetMember
from ..deps import Reader, SessionDep, Writer, actor_of
from ..errors import error_responses
from ..idempotent import IdempotencyKey, run_idempotent
from ..schemas.duplicates import (
    DuplicateJobCreate,
    DuplicateJobPage,
    DuplicateJobRead,
    DuplicatePairRead,
    NotDuplicateRequest,
    RecordSetDetail,
    RecordSetPage,
    RecordSetRead,
    SetMemberRead,
)
from .records import _page as record_page

__all__ = ["JOBS_PATH", "SETS_PATH", "router"]

JOBS_PATH = "/v1/duplicate-jobs"
SETS_PATH = "/v1/duplicate-record-sets"
router = APIRouter(tags=["duplicates"])

ERRORS = error_responses(
    "validation_error", "invalid_key", "insufficient_permissions", "not_found", "rate_limited"
)
WRITE_ERRORS = {**ERRORS, **error_responses("conflict")}
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the last page.")]


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _job(session: Session, job: DuplicateJob) -> DuplicateJobRead:
    seen = jobs.view(session, job)
    return DuplicateJobRead(
        id=job.id,
        entity=seen.entity,
        method=job.method,
        threshold=job.threshold,
        matching_rule_id=job.matching_rule_id,
        status=seen.status,  # type: ignore[arg-type]
        stage=job.stage,
        progress=job.progress,
        records_scanned=job.records_scanned,
        pairs_found=job.pairs_found,
        sets_found=job.sets_found,
        cancel_requested=job.cancel_requested,
        error=seen.error,
        created_at=job.created_at,
        started_at=job.started_at,
        heartbeat_at=job.heartbeat_at,
        finished_at=job.finished_at,
    )


def _member(member: DuplicateSetMember) -> SetMemberRead:
    return SetMemberRead(
        record_id=member.record_id, score=member.score, is_primary=member.is_primary
    )


def _set(item: DuplicateRecordSet, entity: str, members: list[SetMemberRead]) -> dict[str, Any]:
    return {
        "id": item.id,
        "entity": entity,
        "job_id": item.job_id,
        "source": item.source,
        "rule_id": item.rule_id,
        "status": item.status,
        "size": item.size,
        "max_similarity": item.max_similarity,
        "created_at": item.created_at,
        "resolved_at": item.resolved_at,
        "members": members,
    }


def _detail(session: Session, workspace_id: str, set_id: str) -> RecordSetDetail:
    found = sets.get_set(session=session, workspace_id=workspace_id, set_id=set_id)
    shown = record_page(session, list(found.records.values()), found.entity)
    by_id = {r.record_id: r for r in shown}
    members = [
        _member(m).model_copy(update={"record": by_id.get(m.record_id)}) for m in found.members
    ]
    return RecordSetDetail(
        **_set(found.record_set, found.entity, members),
        pairs=[DuplicatePairRead.model_validate(p, from_attributes=True) for p in found.pairs],
    )


# --- jobs ----------------------------------------------------------------------------------


@router.post(
    JOBS_PATH,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DuplicateJobRead,
    responses={
        **WRITE_ERRORS,
        **error_responses("idempotency_conflict"),
        200: {"model": DuplicateJobRead, "description": "with wait=true: the finished job"},
    },
)
def create_job(
    body: DuplicateJobCreate,
    request: Request,
    key: Writer,
    wait: Annotated[bool, Query(description="Run in the request and answer when done.")] = False,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Scan an entity's live records for duplicates with the same engine as
    `dupeguard scan` and detect-duplicates, into duplicate record sets (each job's sets
    replace the entity's earlier open ones). Costs no credits. 202 and the queued job (poll
    it), or with `wait=true` 200 and the finished job. `method: rule` (matching rules) is not
    available yet. One queued or running job per entity (else `conflict`)."""
    sessions = _sessions(request)

    def work(session: Session) -> dict[str, Any]:
        job = jobs.create(
            session=session,
            workspace_id=key.workspace_id,
            entity=body.entity,
            threshold=body.threshold,
            method=body.method,
            matching_rule_id=body.matching_rule_id,
            actor=actor_of(key),
        )
        session.commit()  # the runner reads the job from its own sessions
        if wait:
            jobs.run_job(sessions, job.id)
        else:
            jobs.run_in_background(sessions, job.id)
        session.refresh(job)
        return _job(session, job).model_dump(mode="json")

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body={**body.model_dump(mode="json"), "wait": wait},
        status_code=status.HTTP_200_OK if wait else status.HTTP_202_ACCEPTED,
        work=work,
    )


@router.get(JOBS_PATH, response_model=DuplicateJobPage, responses=ERRORS)
def list_jobs(
    session: SessionDep,
    key: Reader,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=jobs.MAX_PAGE)] = 50,
    cursor: Cursor = None,
) -> DuplicateJobPage:
    """The workspace's duplicate jobs, newest first."""
    found, next_cursor = jobs.list_jobs(
        session=session, workspace_id=key.workspace_id, entity=entity, limit=limit, cursor=cursor
    )
    return DuplicateJobPage(data=[_job(session, j) for j in found], next_cursor=next_cursor)


@router.get(JOBS_PATH + "/{job_id}", response_model=DuplicateJobRead, responses=ERRORS)
def get_job(job_id: str, session: SessionDep, key: Reader) -> DuplicateJobRead:
    """Status, stage, progress (0–1) and counts."""
    return _job(session, jobs.get(session=session, workspace_id=key.workspace_id, job_id=job_id))


@router.post(
    JOBS_PATH + "/{job_id}/cancel", response_model=DuplicateJobRead, responses=WRITE_ERRORS
)
def cancel_job(job_id: str, request: Request, key: Writer) -> DuplicateJobRead:
    """Cancel: a queued job at once; a running one at its next progress step (it then ends
    `cancelled` and writes no sets). A finished job is a `conflict`."""
    with session_scope(_sessions(request)) as session:
        job = jobs.cancel(session=session, workspace_id=key.workspace_id, job_id=job_id)
        return _job(session, job)


# --- record sets ---------------------------------------------------------------------------


@router.get(SETS_PATH, response_model=RecordSetPage, responses=ERRORS)
def list_record_sets(
    session: SessionDep,
    key: Reader,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[
        str, Query(max_length=16, description="open (default), superseded, dismissed, merged, all")
    ] = "open",
    min_similarity: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    job_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=sets.MAX_PAGE)] = 50,
    cursor: Cursor = None,
) -> RecordSetPage:
    """The review queue: duplicate record sets, highest `max_similarity` first, each with its
    members (primary first)."""
    found, next_cursor = sets.list_sets(
        session=session,
        workspace_id=key.workspace_id,
        entity=entity,
        status=None if status == "all" else status,
        min_similarity=min_similarity,
        job_id=job_id,
        limit=limit,
        cursor=cursor,
    )
    members = sets.members_of(session=session, set_ids=[s.id for s in found])
    names = sets.entity_names(session=session, entity_ids=[s.entity_id for s in found])
    return RecordSetPage(
        data=[
            RecordSetRead(
                **_set(s, names.get(s.entity_id, ""), [_member(m) for m in members[s.id]])
            )
            for s in found
        ],
        next_cursor=next_cursor,
    )


@router.get(SETS_PATH + "/{set_id}", response_model=RecordSetDetail, responses=ERRORS)
def get_record_set(set_id: str, session: SessionDep, key: Reader) -> RecordSetDetail:
    """One set: its members with their records (encrypted fields decrypted) and its pairs with
    similarity, matched fields and reason."""
    return _detail(session, key.workspace_id, set_id)


@router.post(
    SETS_PATH + "/{set_id}/not-duplicate", response_model=RecordSetDetail, responses=ERRORS
)
def not_duplicate(
    set_id: str, body: NotDuplicateRequest, request: Request, key: Writer
) -> RecordSetDetail:
    """Mark two members (`record_ids`), or several `pairs`, as not duplicates: remembered
    (later jobs leave the pair out), audited, and dropped from the set; a set left without
    pairs is `dismissed`. Marking a pair again changes nothing."""
    with session_scope(_sessions(request)) as session:
        sets.mark_not_duplicate(
            session=session,
            workspace_id=key.workspace_id,
            set_id=set_id,
            pairs=body.as_pairs(),
            actor=actor_of(key),
            request_id=getattr(request.state, "request_id", None),
        )
        return _detail(session, key.workspace_id, set_id)
