"""CSV import: upload → mapping (columns to fields, dedup action) → preview → start → report.

Every row goes through intake (:mod:`dupeguard.services.intake`) with source ``import``, so
the match keys and the import's action (``skip`` by default, ``update``, ``off``) decide each
row exactly as they decide an API call; rows are decided in file order, as if submitted one
after another, so a file repeating a key value creates the record once.

* :func:`upload` checks the whole file (:mod:`.import_csv`), stores it with its columns, row
  count and a suggested mapping (status ``uploaded``).
* :func:`set_mapping` maps columns to fields (unmapped columns are ignored) and picks the
  action (``mapped``); allowed until the import starts.
* :func:`preview` decides every row without writing (``previewed``; ``counts`` then holds the
  predicted counts until the import starts).
* :func:`start` marks the import ``running``; :func:`run` (synchronous) or
  :func:`run_in_background` (a thread of the server) applies it in chunks of
  :data:`CHUNK_ROWS` rows. One chunk is one transaction holding its records, its
  :class:`~dupeguard.store.tables.ImportRow` results and the new ``processed_rows``, so a
  crash leaves whole chunks: every row is applied with its report row, or not at all.
* A running import whose heartbeat (renewed per chunk) is older than :data:`STALE_AFTER` reads
  as ``interrupted`` (the process died); :func:`resume` continues it after the last committed
  chunk, as it does a ``failed`` one. Chunks check ``processed_rows`` under the import's row
  lock, so two runners never apply the same rows.
* :func:`rows` pages the per-row report; :func:`report_lines` streams it as CSV.

A row's cells are trimmed; an empty cell is "no value". A row with a bad value (``abc`` in a
number field) gets decision ``error`` with the message, as does a row with no value in any
mapped column; neither aborts anything.

Write functions (``upload``, ``set_mapping``, ``start``, ``resume``) take the write lock
first: give them a session that has not executed anything yet.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import ConflictError, DupeguardError, NotFoundError, ValidationError
from ..core.fields import _alias_table, _header_key
from ..store.session import begin_write, session_scope
from ..store.tables import Entity, Field, Import, ImportRow, utcnow
from . import intake
from .import_csv import MAX_FILE_BYTES, csv_line, inspect, iter_rows
from .records import entity_named

__all__ = [
    "CHUNK_ROWS",
    "DECISIONS",
    "MAX_PAGE",
    "REPORT_COLUMNS",
    "STALE_AFTER",
    "Preview",
    "RowResult",
    "clean_filename",
    "counted",
    "entity_of",
    "get",
    "list_imports",
    "preview",
    "report_lines",
    "resume",
    "rows",
    "run",
    "run_in_background",
    "set_mapping",
    "start",
    "status_of",
    "suggest_mapping",
    "upload",
]

logger = logging.getLogger("dupeguard.imports")

CHUNK_ROWS = intake.MAX_BULK
"""Rows per chunk (one transaction): as many as one bulk intake call, so a chunk holds the
write lock no longer than such a call may; bigger chunks share the per-transaction costs
(commit, lookups, the normalisers' set-up) over more rows (measured with 200,000 stored
records on SQLite: a 100,000-row import took 34 s in 1,000-row chunks, 25 s in 10,000)."""
STALE_AFTER = timedelta(seconds=60)
MAX_PAGE = 1000
#: ``blocked``: a duplicate rule refused the row (``matches`` lists the records it matched)
DECISIONS = (*intake.DECISIONS, "blocked", "error")
REPORT_COLUMNS = (
    "row_number",
    "decision",
    "record_id",
    "matched_ids",
    "matched_by",
    "changed_fields",
    "error",
)
_EDITABLE = ("uploaded", "mapped", "previewed")
_NO_VALUE = "the row has no value in any mapped column"


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(DECISIONS, 0)


def clean_filename(name: str | None) -> str:
    """The base name only: no directories (``../``, ``C:\\``), no control characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return "import.csv"
    return base[-255:]


# --- lookups -------------------------------------------------------------------------------


def get(*, session: Session, workspace_id: str, import_id: str, lock: bool = False) -> Import:
    """The import, or ``not_found`` (also for another workspace's import)."""
    query = select(Import).where(Import.id == import_id, Import.workspace_id == workspace_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFoundError(f"no import {import_id!r} in this workspace")
    return found


def entity_of(session: Session, item: Import) -> str:
    return session.scalar(select(Entity.name).where(Entity.id == item.entity_id)) or ""


def status_of(item: Import, *, now: datetime | None = None) -> str:
    """The status as a reader should see it: a ``running`` import whose heartbeat is older
    than :data:`STALE_AFTER` is ``interrupted`` (its process died; :func:`resume` it)."""
    if item.status == "running":
        beat = item.heartbeat_at or item.started_at
        if beat is None or beat < (now or utcnow()) - STALE_AFTER:
            return "interrupted"
    return item.status


def list_imports(
    *, session: Session, workspace_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[Import], str | None]:
    """The workspace's imports, newest first; ``cursor`` is the last id of the previous page."""
    _check_limit(limit)
    query = select(Import).where(Import.workspace_id == workspace_id)
    if cursor:
        last = session.scalar(
            select(Import).where(Import.id == cursor, Import.workspace_id == workspace_id)
        )
        if last is None:
            raise ValidationError(
                "cursor: not a cursor this API gave out", details={"field": "cursor"}
            )
        query = query.where(
            or_(
                Import.created_at < last.created_at,
                and_(Import.created_at == last.created_at, Import.id < last.id),
            )
        )
    found = list(
        session.scalars(query.order_by(Import.created_at.desc(), Import.id.desc()).limit(limit + 1))
    )
    next_cursor = found[limit - 1].id if len(found) > limit else None
    return found[:limit], next_cursor


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})


# --- upload and mapping --------------------------------------------------------------------


def suggest_mapping(columns: Sequence[str], entity: str, fields: Sequence[Field]) -> dict[str, str]:
    """Column → field for the columns that name a field: its name or label (ignoring case,
    spaces and punctuation), or a known spelling (``E-mail``, ``First Name``, ``Zip Code``).
    A field is suggested for its first column only."""
    by_name = {_header_key(f.name): f.name for f in fields}
    by_label = {_header_key(f.label): f.name for f in fields if f.label}
    aliases = _alias_table(entity)
    names = {f.name for f in fields}
    out: dict[str, str] = {}
    for column in columns:
        key = _header_key(column)
        alias = aliases.get(key)
        target = by_name.get(key) or by_label.get(key) or (alias if alias in names else None)
        if target is not None and target not in out.values():
            out[column] = target
    return out


def upload(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    filename: str | None,
    content: bytes,
    max_bytes: int = MAX_FILE_BYTES,
) -> Import:
    """Check and store a CSV file; nothing else is written. A bad file raises (see
    :mod:`.import_csv`)."""
    parsed = inspect(content, max_bytes=max_bytes)
    begin_write(session)
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    fields = list(session.scalars(select(Field).where(Field.entity_id == target.id)))
    item = Import(
        workspace_id=workspace_id,
        entity_id=target.id,
        filename=clean_filename(filename),
        content=content,
        columns=parsed.columns,
        row_count=parsed.row_count,
        mapping=suggest_mapping(parsed.columns, target.name, fields),
        dedup_mode="skip",
        status="uploaded",
        processed_rows=0,
        counts={},
    )
    session.add(item)
    session.flush()
    return item


def _check_mapping(
    session: Session, item: Import, mapping: Mapping[str, str | None]
) -> dict[str, str]:
    fields = {
        f.name for f in session.scalars(select(Field).where(Field.entity_id == item.entity_id))
    }
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for column, target in mapping.items():
        if column not in item.columns:
            raise ValidationError(
                f"mapping: the file has no column {column!r}", details={"field": "mapping"}
            )
        name = (target or "").strip()
        if not name:
            continue  # unmapped: ignored
        if name not in fields:
            raise ValidationError(
                f"mapping.{column}: the entity has no field {name!r}",
                details={"field": "mapping", "column": column},
            )
        if name in owner:
            raise ValidationError(
                f"mapping: columns {owner[name]!r} and {column!r} both map to field {name!r}",
                details={"field": "mapping", "column": column},
            )
        owner[name] = column
        out[column] = name
    if not out:
        raise ValidationError(
            "mapping: map at least one column to a field", details={"field": "mapping"}
        )
    return out


def set_mapping(
    *,
    session: Session,
    workspace_id: str,
    import_id: str,
    mapping: Mapping[str, str | None],
    dedup_mode: str | None = "skip",
) -> Import:
    """Map columns to fields (``None`` or ``""``: ignore the column) and pick the action."""
    begin_write(session)
    item = get(session=session, workspace_id=workspace_id, import_id=import_id, lock=True)
    if item.status not in _EDITABLE:
        raise ConflictError(
            f"the import is {status_of(item)}: its mapping can no longer change",
            details={"status": status_of(item)},
        )
    item.mapping = _check_mapping(session, item, mapping)
    item.dedup_mode = intake.parse_mode(dedup_mode)
    item.status = "mapped"
    item.counts = {}
    session.flush()
    return item


# --- deciding rows -------------------------------------------------------------------------


@dataclass
class RowResult:
    """One row's outcome, as stored in ``import_rows`` (and shown by the preview)."""

    row_number: int
    decision: str
    record_id: str | None = None
    matches: list[str] = field(default_factory=list)
    matched_by: str | None = None
    changed_fields: list[str] = field(default_factory=list)
    error: str | None = None
    matched_rows: list[int] = field(default_factory=list)

    def stored(self, import_id: str) -> dict[str, Any]:
        return {
            "import_id": import_id,
            "row_number": self.row_number,
            "decision": self.decision,
            "record_id": self.record_id,
            "matches": self.matches,
            "matched_by": self.matched_by,
            "changed_fields": self.changed_fields,
            "error": None if self.error is None else self.error[:1000],
        }


@dataclass(frozen=True)
class _Job:
    workspace_id: str
    entity: str
    targets: tuple[tuple[int, str], ...]  # (column position, field name)
    mode: str
    region: str
    actor: str | None

    def inbound(self, cells: Sequence[str]) -> intake.Inbound | None:
        data = {name: (cells[position].strip() or None) for position, name in self.targets}
        if all(v is None for v in data.values()):
            return None
        return intake.Inbound(data=data)


def _job(session: Session, item: Import, region: str, actor: str | None) -> _Job:
    return _Job(
        workspace_id=item.workspace_id,
        entity=entity_of(session, item),
        targets=tuple((item.columns.index(column), name) for column, name in item.mapping.items()),
        mode=item.dedup_mode,
        region=region,
        actor=actor,
    )


def _decide(
    session: Session, job: _Job, chunk: Sequence[tuple[int, list[str]]], *, dry_run: bool
) -> list[RowResult]:
    """Run the rows through intake in order (writing them unless ``dry_run``)."""
    results: dict[int, RowResult] = {}
    numbers: list[int] = []
    inbound: list[intake.Inbound] = []
    for number, cells in chunk:
        row = job.inbound(cells)
        if row is None:
            results[number] = RowResult(number, "error", error=_NO_VALUE)
        else:
            numbers.append(number)
            inbound.append(row)
    if inbound:
        decided = intake.submit_many(
            session=session,
            workspace_id=job.workspace_id,
            entity=job.entity,
            rows=inbound,
            source="import",
            mode=job.mode,
            region=job.region,
            actor=job.actor,
            dry_run=dry_run,
            decisions_only=dry_run,  # a preview shows decisions; alerts are the run's to record
        )
        for number, outcome in zip(numbers, decided, strict=True):
            if isinstance(outcome, intake.RowError) and outcome.verdict is not None:
                matched = outcome.error.details.get("matches") or []
                results[number] = RowResult(
                    number,
                    "blocked",
                    matches=[m["record_id"] for m in matched],
                    error=outcome.error.message,
                )
            elif isinstance(outcome, intake.RowError):
                results[number] = RowResult(number, "error", error=outcome.error.message)
            else:
                results[number] = RowResult(
                    number,
                    outcome.decision,
                    record_id=outcome.record_id,
                    matches=list(outcome.matches),
                    matched_by=outcome.matched_by,
                    changed_fields=list(outcome.changed_fields),
                )
    return [results[number] for number, _ in chunk]


def _count(results: Sequence[RowResult], into: Mapping[str, int] | None = None) -> dict[str, int]:
    counts = _zero_counts()
    counts.update(into or {})
    for result in results:
        counts[result.decision] = counts.get(result.decision, 0) + 1
    return counts


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a batch is decided: the batch's objects are
    freed by reference counting as before, but the collector's full passes over a heap
    holding 100,000 rows' objects cost seconds (measured 2.3-3.6 s per 100,000-row preview)
    and find little to free. Nested and concurrent pauses count; the last one out restores
    the collector as the first one in found it, and it catches up on any cycles then."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


@dataclass
class Preview:
    counts: dict[str, int]
    rows: list[RowResult]
    next_cursor: str | None


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise ValidationError("cursor: not a cursor this API gave out", details={"field": "cursor"})
    return int(cursor)


def _check_decision(decision: str | None) -> None:
    if decision is not None and decision not in DECISIONS:
        raise ValidationError(
            f"decision: one of {', '.join(DECISIONS)}", details={"field": "decision"}
        )


def preview(
    *,
    sessions: sessionmaker[Session],
    workspace_id: str,
    import_id: str,
    region: str = "US",
    decision: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Preview:
    """What the import would do now, row by row, writing nothing but the import's status
    (``previewed``) and predicted counts. ``decision``/``limit``/``cursor`` page the rows.

    A row that repeats a key value of an earlier row lists that row in ``matched_rows``
    (its record does not exist yet, so ``matches`` holds only stored records)."""
    _check_limit(limit)
    _check_decision(decision)
    after = _after(cursor)
    with session_scope(sessions) as session:
        item = get(session=session, workspace_id=workspace_id, import_id=import_id)
        if item.status not in ("mapped", "previewed"):
            raise ConflictError(
                _not_mapped(item)
                if item.status == "uploaded"
                else f"the import is {status_of(item)}",
                details={"status": status_of(item)},
            )
        job = _job(session, item, region, None)
        content = _content(session, item.id)
        with _gc_paused():
            results = _decide(session, job, list(iter_rows(content)), dry_run=True)
        session.rollback()
    planned = {r.record_id: r.row_number for r in results if r.decision == "created"}
    for result in results:
        result.matched_rows = [planned[m] for m in result.matches if m in planned]
        result.matches = [m for m in result.matches if m not in planned]
        if result.decision == "created" or result.record_id in planned:
            result.record_id = None
    counts = _count(results)
    with session_scope(sessions) as session:
        begin_write(session)
        session.execute(
            update(Import)
            .where(Import.id == import_id, Import.status.in_(("mapped", "previewed")))
            .values(status="previewed", counts=counts)
        )
    chosen = [
        r for r in results if r.row_number > after and (decision is None or r.decision == decision)
    ]
    page = chosen[:limit]
    next_cursor = str(page[-1].row_number) if len(chosen) > limit else None
    return Preview(counts=counts, rows=page, next_cursor=next_cursor)


def _not_mapped(item: Import) -> str:
    return f"map the columns first: PUT /v1/imports/{item.id}/mapping"


def _content(session: Session, import_id: str) -> bytes:
    return bytes(session.scalar(select(Import.content).where(Import.id == import_id)) or b"")


# --- running -------------------------------------------------------------------------------


def start(*, session: Session, workspace_id: str, import_id: str) -> Import:
    """Mark a mapped import ``running`` (then :func:`run` it). Once only; use :func:`resume`
    for an interrupted or failed one."""
    begin_write(session)
    item = get(session=session, workspace_id=workspace_id, import_id=import_id, lock=True)
    status = status_of(item)
    if item.status == "uploaded":
        raise ConflictError(_not_mapped(item), details={"status": status})
    if item.status not in ("mapped", "previewed"):
        message = f"the import is {status}: it was started before"
        if status in ("interrupted", "failed"):
            message += f"; resume it with POST /v1/imports/{item.id}/resume"
        raise ConflictError(message, details={"status": status})
    _check_mapping(session, item, item.mapping)
    now = utcnow()
    item.status = "running"
    item.processed_rows = 0
    item.counts = _zero_counts()
    item.error = None
    item.started_at = item.heartbeat_at = now
    item.finished_at = None
    session.flush()
    return item


def resume(
    *, session: Session, workspace_id: str, import_id: str, now: datetime | None = None
) -> Import:
    """Let an ``interrupted`` or ``failed`` import run again from its last committed chunk."""
    begin_write(session)
    item = get(session=session, workspace_id=workspace_id, import_id=import_id, lock=True)
    status = status_of(item, now=now)
    if status not in ("interrupted", "failed"):
        raise ConflictError(
            f"the import is {status}: only an interrupted or failed import can be resumed",
            details={"status": status},
        )
    item.status = "running"
    item.error = None
    item.heartbeat_at = utcnow()
    item.finished_at = None
    session.flush()
    return item


def run(
    sessions: sessionmaker[Session],
    import_id: str,
    *,
    region: str = "US",
    actor: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> str:
    """Apply a ``running`` import from its last committed chunk to the end; returns the
    status it leaves (``completed``, ``failed``, or the status another runner or a reader
    left when this one stopped early). Failures mark the import ``failed`` and do not raise."""
    with session_scope(sessions) as session:
        item = session.get(Import, import_id)
        if item is None or item.status != "running":
            return item.status if item is not None else "missing"
        job = _job(session, item, region, actor)
        done = item.processed_rows
        content = _content(session, import_id)
    try:
        rows = iter_rows(content, after=done)
        while chunk := list(islice(rows, chunk_rows)):
            if not _apply_chunk(sessions, import_id, job, done, chunk):
                return _status(sessions, import_id)
            done += len(chunk)
        with session_scope(sessions) as session:
            begin_write(session)
            session.execute(
                update(Import)
                .where(
                    Import.id == import_id,
                    Import.status == "running",
                    Import.processed_rows == done,
                )
                .values(status="completed", finished_at=utcnow(), heartbeat_at=utcnow())
            )
    except Exception as exc:
        message = exc.message if isinstance(exc, DupeguardError) else "internal error"
        logger.exception("import %s failed after %d rows", import_id, done)
        with session_scope(sessions) as session:
            begin_write(session)
            session.execute(
                update(Import)
                .where(Import.id == import_id, Import.status == "running")
                .values(status="failed", error=f"{message} (after row {done})"[:1000])
            )
    return _status(sessions, import_id)


def _status(sessions: sessionmaker[Session], import_id: str) -> str:
    with session_scope(sessions) as session:
        return session.scalar(select(Import.status).where(Import.id == import_id)) or "missing"


def _apply_chunk(
    sessions: sessionmaker[Session],
    import_id: str,
    job: _Job,
    done: int,
    chunk: Sequence[tuple[int, list[str]]],
) -> bool:
    """One transaction: the rows' records, their report rows and the progress — or nothing.
    False when the import is no longer this runner's to continue."""
    with session_scope(sessions) as session:
        begin_write(session)
        item = session.scalar(select(Import).where(Import.id == import_id).with_for_update())
        if item is None or item.status != "running" or item.processed_rows != done:
            return False
        with _gc_paused():
            results = _decide(session, job, chunk, dry_run=False)
        # on the connection, a Core executemany: the session's ORM bulk insert costs more
        # per row than these plain rows need
        session.connection().execute(insert(ImportRow), [r.stored(import_id) for r in results])
        item.processed_rows = done + len(chunk)
        item.counts = _count(results, item.counts)
        item.heartbeat_at = utcnow()
    return True


_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def run_in_background(
    sessions: sessionmaker[Session],
    import_id: str,
    *,
    region: str = "US",
    actor: str | None = None,
) -> threading.Thread:
    """:func:`run` in a daemon thread of this process (one per import at a time). If the
    process dies, the import reads ``interrupted`` and can be resumed."""
    with _threads_lock:
        current = _threads.get(import_id)
        if current is not None and current.is_alive():
            return current

        def work() -> None:
            try:
                run(sessions, import_id, region=region, actor=actor)
            except Exception:  # run() records failures itself; this is the last resort
                logger.exception("import %s: runner crashed", import_id)
            finally:
                with _threads_lock:
                    if _threads.get(import_id) is threading.current_thread():
                        del _threads[import_id]

        thread = threading.Thread(target=work, name=f"import-{import_id[:8]}", daemon=True)
        _threads[import_id] = thread
        thread.start()
        return thread


# --- report --------------------------------------------------------------------------------


def rows(
    *,
    session: Session,
    workspace_id: str,
    import_id: str,
    decision: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[ImportRow], str | None]:
    """The applied rows' outcomes in row order; ``cursor`` is the last row number seen."""
    _check_limit(limit)
    _check_decision(decision)
    get(session=session, workspace_id=workspace_id, import_id=import_id)
    query = select(ImportRow).where(
        ImportRow.import_id == import_id, ImportRow.row_number > _after(cursor)
    )
    if decision is not None:
        query = query.where(ImportRow.decision == decision)
    found = list(session.scalars(query.order_by(ImportRow.row_number).limit(limit + 1)))
    next_cursor = str(found[limit - 1].row_number) if len(found) > limit else None
    return found[:limit], next_cursor


def counted(*, session: Session, import_id: str) -> dict[str, int]:
    """Counts recomputed from the stored rows (equal to ``Import.counts``)."""
    counts = _zero_counts()
    for decision, n in session.execute(
        select(ImportRow.decision, func.count())
        .where(ImportRow.import_id == import_id)
        .group_by(ImportRow.decision)
    ):
        counts[decision] = n
    return counts


def report_lines(
    sessions: sessionmaker[Session], import_id: str, *, page: int = 5000
) -> Iterator[str]:
    """The report as CSV lines (header first), one short transaction per page, so it can be
    streamed. Check the import's workspace (:func:`get`) before streaming."""
    yield csv_line(REPORT_COLUMNS)
    after = 0
    while True:
        with session_scope(sessions) as session:
            batch = list(
                session.scalars(
                    select(ImportRow)
                    .where(ImportRow.import_id == import_id, ImportRow.row_number > after)
                    .order_by(ImportRow.row_number)
                    .limit(page)
                )
            )
        for row in batch:
            yield csv_line(
                [
                    str(row.row_number),
                    row.decision,
                    row.record_id or "",
                    ";".join(row.matches or []),
                    row.matched_by or "",
                    ";".join(row.changed_fields or []),
                    row.error or "",
                ]
            )
        if len(batch) < page:
            return
        after = batch[-1].row_number
