"""Duplicate jobs: a background scan of an entity's stored records into duplicate record sets.

A job scans the entity's live records with the same engine as ``dupeguard scan`` and
``POST /v1/ai/detect-duplicates`` (:func:`dupeguard.services.detect.load_frame`, then
:func:`dupeguard.engine.scan.scan`). Duplicate jobs cost **no credits**: they are the
workspace's own maintenance of its data; detect-duplicates is the metered API.

* :func:`create` stores a ``queued`` job: method ``model`` (the calibrated similarity against
  ``threshold``, as the scan) or ``rule`` (the pairs an active matching rule of the entity
  matches, found through its blocking keys: :mod:`.rule_scan`). One queued or running job per
  entity at a time.
* :func:`run_job` (synchronous) or :func:`run_in_background` (a daemon thread of the server)
  runs it: ``queued`` → ``running`` → ``completed`` | ``cancelled`` | ``failed``. The engine's
  progress callback updates ``stage`` and ``progress`` and honours a cancel request by raising;
  a ticker thread renews ``heartbeat_at`` while the job runs, so a long stage is not mistaken
  for a dead server.
* Pairs a reviewer marked "not a duplicate" (:class:`~dupeguard.store.tables.NotDuplicate`)
  are dropped before clustering, so a rerun keeps earlier decisions.
* All sets of a job (members and pairs) are written in one transaction at the end, together
  with the job's ``completed`` status and its audit entry: a failed or cancelled job writes
  none. That transaction closes the still-open sets of earlier jobs for the entity
  (``superseded``), so the review queue shows the latest results.
* A ``running`` job whose heartbeat is older than :data:`STALE_AFTER` (its server died), or a
  ``queued`` one never picked up in that time, reads as ``failed`` with error
  ``interrupted`` (:func:`status_of`; computed on read). :func:`recover_interrupted` stores
  that verdict (status ``failed``, stage and error ``interrupted``); :class:`JobSweeper` runs
  it when a server starts and every :data:`SWEEP_EVERY` seconds, so a job whose server was
  killed does not stay ``running`` in the table. Its sets were never written (they are saved
  in the job's last transaction), so the review queue still holds the previous job's sets;
  start a new job to scan again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..core.cluster import components, primary_flags
from ..core.errors import ConflictError, DupeguardError, NotFoundError, ValidationError
from ..core.fields import FieldSpec
from ..core.plan import build_plan
from ..core.rules import compile_rule
from ..engine.scan import ScanResult, primary_ranks, scan
from ..store.session import begin_write, session_scope
from ..store.tables import (
    DuplicateJob,
    DuplicateRecordSet,
    Entity,
    MatchingRule,
    NotDuplicate,
    Record,
    utcnow,
)
from . import audit, job_sets, rule_scan, rules
from .detect import load_frame
from .records import RecordFilter, entity_named

__all__ = [
    "ACTIVE",
    "HEARTBEAT_EVERY",
    "MAX_PAGE",
    "METHODS",
    "SCANNABLE",
    "STALE_AFTER",
    "SWEEP_EVERY",
    "JobSweeper",
    "JobView",
    "cancel",
    "create",
    "entity_of",
    "get",
    "list_jobs",
    "recover_interrupted",
    "run_in_background",
    "run_job",
    "status_of",
    "view",
]

logger = logging.getLogger("dupeguard.duplicate_jobs")

SCANNABLE = ("contact", "lead", "company", "deal")
METHODS = ("model", "rule")
ACTIVE = ("queued", "running")
STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_EVERY = 10.0  # seconds
SWEEP_EVERY = 30.0  # seconds between two looks for jobs left by a dead server
MAX_PAGE = 200
_WRITE_EVERY = 0.5  # seconds between progress writes within one stage

# (start, end) of each stage on the 0–1 progress scale; ``compare`` advances by pairs done
_STAGES: dict[str, tuple[float, float]] = {
    "loading": (0.0, 0.05),
    "normalise": (0.05, 0.1),
    "block": (0.1, 0.2),
    "compare": (0.2, 0.7),
    "score": (0.7, 0.85),
    "explain": (0.85, 0.9),
    "cluster": (0.9, 0.95),
    "done": (0.95, 0.95),
    "saving": (0.95, 1.0),
}


class _Cancelled(Exception):
    """Raised inside the engine's progress callback to stop a job whose cancel was asked."""


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobView:
    """A job as a reader should see it (status and error computed, entity named)."""

    job: DuplicateJob
    entity: str
    status: str
    error: str | None


def status_of(job: DuplicateJob, *, now: datetime | None = None) -> tuple[str, str | None]:
    """(status, error) as a reader sees them: a ``running`` job whose heartbeat is older than
    :data:`STALE_AFTER`, or a ``queued`` one nobody picked up in that time, is ``failed`` with
    error ``interrupted`` (its server died)."""
    limit = (now or utcnow()) - STALE_AFTER
    if job.status == "running":
        beat = job.heartbeat_at or job.started_at
        if beat is None or beat < limit:
            return "failed", "interrupted"
    if job.status == "queued" and job.created_at < limit:
        return "failed", "interrupted"
    return job.status, job.error


def get(*, session: Session, workspace_id: str, job_id: str, lock: bool = False) -> DuplicateJob:
    """The job, or ``not_found`` (also for another workspace's job)."""
    query = select(DuplicateJob).where(
        DuplicateJob.id == job_id, DuplicateJob.workspace_id == workspace_id
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFoundError(f"no duplicate job {job_id!r} in this workspace")
    return found


def entity_of(session: Session, job: DuplicateJob) -> str:
    return session.scalar(select(Entity.name).where(Entity.id == job.entity_id)) or ""


def view(session: Session, job: DuplicateJob) -> JobView:
    status, error = status_of(job)
    return JobView(job, entity_of(session, job), status, error)


def list_jobs(
    *,
    session: Session,
    workspace_id: str,
    entity: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[DuplicateJob], str | None]:
    """The workspace's jobs, newest first; ``cursor`` is the last id of the previous page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})
    query = select(DuplicateJob).where(DuplicateJob.workspace_id == workspace_id)
    if entity is not None:
        target = entity_named(session=session, workspace_id=workspace_id, name=entity)
        query = query.where(DuplicateJob.entity_id == target.id)
    if cursor:
        last = session.scalar(
            select(DuplicateJob).where(
                DuplicateJob.id == cursor, DuplicateJob.workspace_id == workspace_id
            )
        )
        if last is None:
            raise ValidationError(
                "cursor: not a cursor this API gave out", details={"field": "cursor"}
            )
        query = query.where(
            or_(
                DuplicateJob.created_at < last.created_at,
                and_(DuplicateJob.created_at == last.created_at, DuplicateJob.id < last.id),
            )
        )
    found = list(
        session.scalars(
            query.order_by(DuplicateJob.created_at.desc(), DuplicateJob.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = found[limit - 1].id if len(found) > limit else None
    return found[:limit], next_cursor


# --- writing -------------------------------------------------------------------------------


def create(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    threshold: float | None = 0.85,
    method: str = "model",
    matching_rule_id: str | None = None,
    actor: str | None = None,
) -> DuplicateJob:
    """A ``queued`` job (then :func:`run_job` or :func:`run_in_background` it). Takes the write
    lock first: give it a session that has not executed anything yet."""
    if method not in METHODS:
        raise ValidationError(f"method: one of {', '.join(METHODS)}", details={"field": "method"})
    if method == "rule":
        if not matching_rule_id:
            raise ValidationError(
                "matching_rule_id: a matching rule (id or name) of the entity, for method rule",
                details={"field": "matching_rule_id"},
            )
        threshold = None
    else:
        if matching_rule_id is not None:
            raise ValidationError(
                "matching_rule_id: only with method rule", details={"field": "matching_rule_id"}
            )
        if threshold is None:
            threshold = 0.85
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError("threshold: between 0 and 1", details={"field": "threshold"})
        if entity not in SCANNABLE:
            raise ValidationError(
                f"entity: a duplicate job by model scans one of {', '.join(SCANNABLE)}",
                details={"field": "entity"},
            )
    begin_write(session)
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    if method == "rule":
        assert matching_rule_id is not None
        try:
            rule = rules.get_matching_rule(
                session=session, workspace_id=workspace_id, entity=entity, rule_id=matching_rule_id
            )
        except NotFoundError:
            raise ValidationError(
                f"matching_rule_id: no matching rule {matching_rule_id!r} on entity {entity!r}",
                details={"field": "matching_rule_id"},
            ) from None
        if rule.against_entity_id is not None:
            raise ValidationError(
                f"matching rule {rule.name!r} compares {entity} with another entity; a duplicate "
                "job compares the records of one entity",
                details={"field": "matching_rule_id"},
            )
        if not rule.active:
            raise ValidationError(
                f"matching rule {rule.name!r} is inactive: activate it first (blocking keys are "
                "kept for active rules)",
                details={"field": "matching_rule_id"},
            )
        matching_rule_id = rule.id
    for other in session.scalars(
        select(DuplicateJob).where(
            DuplicateJob.workspace_id == workspace_id,
            DuplicateJob.entity_id == target.id,
            DuplicateJob.status.in_(ACTIVE),
        )
    ):
        if status_of(other)[0] in ACTIVE:
            raise ConflictError(
                f"a duplicate job for {entity} is already {other.status}: wait for it or "
                f"cancel it (POST /v1/duplicate-jobs/{other.id}/cancel)",
                details={"job_id": other.id, "status": other.status},
            )
    job = DuplicateJob(
        workspace_id=workspace_id,
        entity_id=target.id,
        method=method,
        threshold=None if threshold is None else float(threshold),
        matching_rule_id=matching_rule_id,
        status="queued",
        stage="queued",
        progress=0.0,
        actor=actor,
    )
    session.add(job)
    session.flush()
    return job


def cancel(*, session: Session, workspace_id: str, job_id: str) -> DuplicateJob:
    """Ask a job to stop: a queued one is ``cancelled`` at once; a running one stops at its
    next progress callback and ends ``cancelled`` without writing sets. Cancelling a
    cancelled job changes nothing; a finished one is a ``conflict``."""
    begin_write(session)
    job = get(session=session, workspace_id=workspace_id, job_id=job_id, lock=True)
    status, _ = status_of(job)
    if status == "cancelled":
        return job
    if status not in ACTIVE:
        raise ConflictError(
            f"the job is {status}: only a queued or running job can be cancelled",
            details={"status": status},
        )
    job.cancel_requested = True
    if job.status == "queued":
        job.status = "cancelled"
        job.stage = "cancelled"
        job.finished_at = utcnow()
    session.flush()
    return job


def recover_interrupted(sessions: sessionmaker[Session], *, now: datetime | None = None) -> int:
    """Store ``failed`` / ``interrupted`` for the jobs :func:`status_of` reads so: ``running``
    with a heartbeat older than :data:`STALE_AFTER`, ``queued`` for longer than that. One
    conditional ``UPDATE``, safe with several servers (a live job's heartbeat is fresh).
    Returns how many jobs it marked."""
    now = now or utcnow()
    limit = now - STALE_AFTER
    beat = func.coalesce(
        DuplicateJob.heartbeat_at, DuplicateJob.started_at, DuplicateJob.created_at
    )
    dead = or_(
        and_(DuplicateJob.status == "running", beat < limit),
        and_(DuplicateJob.status == "queued", DuplicateJob.created_at < limit),
    )
    with session_scope(sessions) as session:  # a read first: no write lock when all is well
        if session.scalar(select(DuplicateJob.id).where(dead).limit(1)) is None:
            return 0
    with session_scope(sessions) as session:
        begin_write(session)
        marked = session.execute(
            update(DuplicateJob)
            .where(dead)
            .values(status="failed", stage="interrupted", error="interrupted", finished_at=now)
            .execution_options(synchronize_session=False)
        )
        count = int(getattr(marked, "rowcount", 0) or 0)
    if count:
        logger.warning("marked %d duplicate job(s) of a dead server failed (interrupted)", count)
    return count


class JobSweeper:
    """A daemon thread of the server: :func:`recover_interrupted` at start and then every
    ``every`` seconds. A failed sweep (database away) is logged and tried again."""

    def __init__(self, sessions: sessionmaker[Session], *, every: float = SWEEP_EVERY) -> None:
        self.sessions = sessions
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dupjob-sweeper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                recover_interrupted(self.sessions)
            except OperationalError as exc:  # database away, read-only, full: try again later
                logger.warning("looking for interrupted duplicate jobs failed: %s", exc.orig)
            except Exception:
                logger.warning("looking for interrupted duplicate jobs failed", exc_info=True)
            if self._stop.wait(self.every):
                return


# --- running -------------------------------------------------------------------------------


Hook = Callable[[str, float], None]


def run_job(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    heartbeat_every: float = HEARTBEAT_EVERY,
    on_progress: Hook | None = None,
) -> str:
    """Run a ``queued`` job to its end; returns the status it leaves (``completed``,
    ``cancelled``, ``failed``, or the status it had when it was not this runner's to run).
    Failures mark the job ``failed`` and do not raise. ``on_progress(stage, progress)`` is
    called after each progress update (for tests and logs)."""
    with session_scope(sessions) as session:
        begin_write(session)
        job = session.scalar(
            select(DuplicateJob).where(DuplicateJob.id == job_id).with_for_update()
        )
        if job is None:
            return "missing"
        if job.status != "queued":
            return job.status
        if job.cancel_requested:
            job.status, job.stage, job.finished_at = "cancelled", "cancelled", utcnow()
            return "cancelled"
        now = utcnow()
        job.status, job.stage, job.progress = "running", "loading", 0.0
        job.started_at = job.heartbeat_at = now
        workspace_id, entity_id = job.workspace_id, job.entity_id
        threshold = job.threshold if job.threshold is not None else 0.85
        entity = session.scalar(select(Entity.name).where(Entity.id == entity_id)) or ""
        method, rule_id = job.method, job.matching_rule_id
    reporter = _Reporter(sessions, job_id, on_progress)
    try:
        if method == "rule":
            with _heartbeat(sessions, job_id, heartbeat_every):
                found, records = _by_rule(sessions, workspace_id, entity_id, rule_id, reporter)
                reporter("saving", 0, 0)
            return _save(sessions, job_id, workspace_id, entity, None, records, found)
        with _heartbeat(sessions, job_id, heartbeat_every):
            with session_scope(sessions) as session:
                frame, specs = load_frame(
                    session=session, workspace_id=workspace_id, entity=entity, scope=RecordFilter()
                )
                refused = _not_duplicates(session, workspace_id)
            reporter.records = frame.height
            reporter("loading", 1, 1)
            sets = _find_sets(frame, specs, entity, threshold, refused, reporter)
            reporter("saving", 0, 0)
        return _save(sessions, job_id, workspace_id, entity, threshold, frame.height, sets)
    except _Cancelled:
        _finish(sessions, job_id, status="cancelled", stage="cancelled")
        return "cancelled"
    except Exception as exc:
        message = exc.message if isinstance(exc, DupeguardError) else "internal error"
        logger.exception("duplicate job %s failed", job_id)
        _finish(sessions, job_id, status="failed", stage="failed", error=message[:1000])
        return "failed"


class _Reporter:
    """The engine's progress callback: writes stage and progress (at most every
    :data:`_WRITE_EVERY` seconds within a stage), and raises :class:`_Cancelled` once a
    cancel was asked."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str, hook: Hook | None) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.hook = hook
        self.records = 0
        self.stage = "loading"
        self.written = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        start, end = _STAGES.get(stage, (0.95, 0.95))
        progress = start + (end - start) * (done / total if total else 0.0)
        now = time.monotonic()
        with session_scope(self.sessions) as session:
            wanted = session.scalar(
                select(DuplicateJob.cancel_requested).where(DuplicateJob.id == self.job_id)
            )
        if wanted:
            raise _Cancelled
        if stage != self.stage or now - self.written >= _WRITE_EVERY:
            self.stage, self.written = stage, now
            with session_scope(self.sessions) as session:
                begin_write(session)
                session.execute(
                    update(DuplicateJob)
                    .where(DuplicateJob.id == self.job_id, DuplicateJob.status == "running")
                    .values(
                        stage=stage,
                        progress=round(progress, 4),
                        records_scanned=self.records,
                        heartbeat_at=utcnow(),
                    )
                )
        if self.hook is not None:
            self.hook(stage, progress)


@contextmanager
def _heartbeat(sessions: sessionmaker[Session], job_id: str, every: float) -> Iterator[None]:
    """Renew the job's heartbeat every ``every`` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with session_scope(sessions) as session:
                    begin_write(session)
                    session.execute(
                        update(DuplicateJob)
                        .where(DuplicateJob.id == job_id, DuplicateJob.status == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is not fatal; the next one may succeed
                logger.warning("duplicate job %s: heartbeat failed", job_id, exc_info=True)

    ticker = threading.Thread(target=beat, name=f"dupjob-beat-{job_id[:8]}", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(timeout=30)


def _not_duplicates(session: Session, workspace_id: str) -> set[tuple[str, str]]:
    return {
        (a, b)
        for a, b in session.execute(
            select(NotDuplicate.record_a, NotDuplicate.record_b).where(
                NotDuplicate.workspace_id == workspace_id
            )
        )
    }


def _by_rule(
    sessions: sessionmaker[Session],
    workspace_id: str,
    entity_id: str,
    rule_id: str | None,
    reporter: _Reporter,
) -> tuple[job_sets.Found, int]:
    with session_scope(sessions) as session:
        row = session.get(MatchingRule, rule_id) if rule_id else None
        if row is None or row.workspace_id != workspace_id:
            raise ValidationError("the job's matching rule was deleted")
        types, encrypted = rules.field_types(session, entity_id)
        compiled = compile_rule(
            id=row.id,
            name=row.name,
            conditions=row.conditions,
            expression=row.expression,
            types=types,
        )
        reporter.records = (
            session.scalar(
                select(func.count())
                .select_from(Record)
                .where(Record.entity_id == entity_id, Record.deleted_at.is_(None))
            )
            or 0
        )
        pairs, created = rule_scan.rule_pairs(
            session,
            workspace_id=workspace_id,
            entity_id=entity_id,
            rule=compiled,
            encrypted=encrypted,
            region="US",
            refused=_not_duplicates(session, workspace_id),
            progress=reporter,
        )
    reporter("cluster", 0, 1)
    clusters = job_sets.clusters_by_age(pairs, created)
    return job_sets.sets_from(pairs, clusters), reporter.records


def _find_sets(
    frame: pl.DataFrame,
    specs: list[FieldSpec],
    entity: str,
    threshold: float,
    refused: set[tuple[str, str]],
    progress: _Reporter,
) -> job_sets.Found:
    """The duplicate record sets of the scan, without the pairs marked not-a-duplicate."""
    if frame.height < 2 or not any(s.comparable for s in specs):
        return job_sets.sets_from(
            pl.DataFrame(schema=job_sets.PAIRS_SCHEMA),
            pl.DataFrame(schema=job_sets.CLUSTERS_SCHEMA),
        )
    result = scan(frame, specs, entity=entity, threshold=threshold, progress=progress)
    pairs, clusters = result.pairs, result.clusters
    if refused and pairs.height:
        keep = [
            (min(a, b), max(a, b)) not in refused
            for a, b in zip(pairs["primary_id"], pairs["duplicate_id"], strict=True)
        ]
        kept = pairs.filter(pl.Series(keep, dtype=pl.Boolean))
        if kept.height < pairs.height:
            pairs = kept
            clusters = _recluster(frame, specs, entity, result, pairs)
    return job_sets.sets_from(pairs, clusters)


def _recluster(
    frame: pl.DataFrame,
    specs: list[FieldSpec],
    entity: str,
    result: ScanResult,
    pairs: pl.DataFrame,
) -> pl.DataFrame:
    """Clusters of the remaining pairs, with primary records chosen as the engine does."""
    plan = build_plan(entity, specs)
    ids = frame["id"].cast(pl.String).to_numpy().astype(object)
    rank = primary_ranks(frame, plan, ids)
    index = {record_id: i for i, record_id in enumerate(ids)}
    left = np.array([index[r] for r in pairs["primary_id"]], dtype=np.int64)
    right = np.array([index[r] for r in pairs["duplicate_id"]], dtype=np.int64)
    labels = components(left, right, len(ids))
    flags = primary_flags(labels, rank)
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    members = np.flatnonzero(sizes[labels] >= 2)
    return pl.DataFrame(
        {"record_id": ids[members], "cluster_id": labels[members], "is_primary": flags[members]},
        schema={"record_id": pl.String, "cluster_id": pl.Int64, "is_primary": pl.Boolean},
    )


def _save(
    sessions: sessionmaker[Session],
    job_id: str,
    workspace_id: str,
    entity: str,
    threshold: float | None,
    records: int,
    found: job_sets.Found,
) -> str:
    """One transaction: the job's sets, the earlier open sets superseded, the job completed
    and audited — or, if a cancel came in meanwhile, nothing but ``cancelled``."""
    with session_scope(sessions) as session:
        begin_write(session)
        job = session.scalar(
            select(DuplicateJob).where(DuplicateJob.id == job_id).with_for_update()
        )
        if job is None or job.status != "running":
            return job.status if job is not None else "missing"
        now = utcnow()
        if job.cancel_requested:
            job.status, job.stage, job.finished_at = "cancelled", "cancelled", now
            return "cancelled"
        session.execute(
            update(DuplicateRecordSet)
            .where(
                DuplicateRecordSet.workspace_id == workspace_id,
                DuplicateRecordSet.entity_id == job.entity_id,
                DuplicateRecordSet.source == "job",
                DuplicateRecordSet.status == "open",
                or_(DuplicateRecordSet.job_id.is_(None), DuplicateRecordSet.job_id != job_id),
            )
            .values(status="superseded", resolved_at=now)
        )
        n_sets, n_pairs = job_sets.write(
            session,
            found,
            workspace_id=workspace_id,
            entity_id=job.entity_id,
            job_id=job_id,
            now=now,
        )
        job.status, job.stage, job.progress = "completed", "done", 1.0
        job.records_scanned = records
        job.pairs_found = n_pairs
        job.sets_found = n_sets
        job.finished_at = job.heartbeat_at = now
        audit.record(
            session=session,
            workspace_id=workspace_id,
            kind="duplicate_job",
            entity=entity,
            actor=job.actor,
            details={
                "job_id": job_id,
                "sets": n_sets,
                "pairs": n_pairs,
                "threshold": threshold,
            },
        )
    return "completed"


def _finish(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    status: str,
    stage: str,
    error: str | None = None,
) -> None:
    with session_scope(sessions) as session:
        begin_write(session)
        session.execute(
            update(DuplicateJob)
            .where(DuplicateJob.id == job_id, DuplicateJob.status == "running")
            .values(status=status, stage=stage, error=error, finished_at=utcnow())
        )


_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def run_in_background(sessions: sessionmaker[Session], job_id: str) -> threading.Thread:
    """:func:`run_job` in a daemon thread of this process (one per job). If the process dies,
    the job reads ``failed`` with error ``interrupted``."""
    with _threads_lock:
        current = _threads.get(job_id)
        if current is not None and current.is_alive():
            return current

        def work() -> None:
            try:
                run_job(sessions, job_id)
            except Exception:  # run_job records failures itself; this is the last resort
                logger.exception("duplicate job %s: runner crashed", job_id)
            finally:
                with _threads_lock:
                    if _threads.get(job_id) is threading.current_thread():
                        del _threads[job_id]

        thread = threading.Thread(target=work, name=f"dupjob-{job_id[:8]}", daemon=True)
        _threads[job_id] = thread
        thread.start()
        return thread
