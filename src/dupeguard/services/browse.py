"""What the web UI reads: the workspace overview and a record browser that stays fast at
millions of records.

:func:`browse_records` never reads more than a bounded number of rows per call:

- without a search, one keyset page, newest first, over ``ix_records_listing``
  (``workspace_id, entity_id, deleted_at, created_at``) with ``LIMIT``;
- a search for a record id, or for a value of a **match key** (an e-mail, a phone number … in
  the field's normal form), is an index lookup (``records`` primary key, ``record_keys``);
- any other search reads the next :data:`SCAN_BUDGET` records in the same newest-first order
  and keeps those with a field value containing the text (case-insensitive); the answer says
  how far it read, so the page offers "search older records" from there. Encrypted values are
  never searched.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from ..core.errors import ValidationError
from ..core.keys import key_value
from ..store.tables import DuplicateRecordSet, Entity, Record, RecordKey
from .credits import balance
from .intake import load_schema
from .workspaces import get_workspace

__all__ = ["COUNT_CAP", "SCAN_BUDGET", "Browse", "Overview", "browse_records", "overview"]

SCAN_BUDGET = 5_000
#: the dashboard counts an entity's live records up to this many, then shows "N+": an exact
#: COUNT(*) walks the whole index (about 0.5 s at 1M records on SQLite) on every view
COUNT_CAP = 100_000
MAX_QUERY = 200


@dataclass(frozen=True)
class Overview:
    name: str
    record_counts: dict[str, int]
    open_sets: int
    credits: int
    #: entities with more live records than the count went to (shown as "N+")
    capped: frozenset[str] = frozenset()


def overview(*, session: Session, workspace_id: str, count_cap: int = COUNT_CAP) -> Overview:
    """Name, live records per entity (counted up to ``count_cap``), open duplicate record sets
    and the credit balance."""
    workspace = get_workspace(session=session, workspace_id=workspace_id)
    open_sets = session.scalar(
        select(func.count())
        .select_from(DuplicateRecordSet)
        .where(
            DuplicateRecordSet.workspace_id == workspace_id,
            DuplicateRecordSet.status == "open",
        )
    )
    counts = _live_counts(session, workspace_id, count_cap)
    return Overview(
        name=workspace.name,
        record_counts=counts,
        open_sets=int(open_sets or 0),
        credits=balance(session=session, workspace_id=workspace_id),
        capped=frozenset(name for name, n in counts.items() if n >= count_cap),
    )


def _live_counts(session: Session, workspace_id: str, cap: int) -> dict[str, int]:
    """Live records per entity (every entity listed, by name), each count stopping at
    ``cap``: a LIMITed walk of ``ix_records_listing`` per entity."""
    counts: dict[str, int] = {}
    for entity_id, name in session.execute(
        select(Entity.id, Entity.name)
        .where(Entity.workspace_id == workspace_id)
        .order_by(Entity.name)
    ):
        some = (
            select(Record.created_at)  # in the index: no table reads
            .where(
                Record.workspace_id == workspace_id,
                Record.entity_id == entity_id,
                Record.deleted_at.is_(None),
            )
            .limit(cap)
            .subquery()
        )
        counts[name] = int(session.scalar(select(func.count()).select_from(some)) or 0)
    return counts


@dataclass
class Browse:
    """One page of records. ``next_cursor`` continues the listing (or the search);
    ``scanned`` is how many records a text search read, ``exhaustive`` whether the search
    looked at every record it could match (an index lookup, or the end was reached)."""

    records: list[Record]
    next_cursor: str | None
    matched_by: str | None = None
    scanned: int = 0
    exhaustive: bool = True
    encrypted: list[str] = field(default_factory=list)


def browse_records(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    query: str = "",
    cursor: str | None = None,
    limit: int = 50,
    region: str = "US",
    scan_budget: int = SCAN_BUDGET,
) -> Browse:
    """Live records of ``entity``, newest first, optionally searched (see the module doc)."""
    if not 1 <= limit <= 200:
        raise ValidationError("limit: between 1 and 200", details={"field": "limit"})
    query = " ".join(query.split())
    if len(query) > MAX_QUERY:
        raise ValidationError(f"search: at most {MAX_QUERY} characters", details={"field": "q"})
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    encrypted = list(schema.encrypted)
    live = select(Record).where(
        Record.workspace_id == workspace_id,
        Record.entity_id == schema.entity_id,
        Record.deleted_at.is_(None),
    )
    newest_first = (Record.created_at.desc(), Record.id.desc())
    if query and not cursor:
        found = _lookup(session, schema, live, query)
        if found is not None:
            records, matched_by = found
            return Browse(records[:limit], None, matched_by=matched_by, encrypted=encrypted)
    after = live if not cursor else live.where(_older_than(*_decode(cursor)))
    if not query:
        rows = list(session.scalars(after.order_by(*newest_first).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        cursor_out = _encode(rows[-1].created_at, rows[-1].id) if more and rows else None
        return Browse(rows, cursor_out, encrypted=encrypted)
    needle = query.casefold()
    hidden = set(encrypted)
    # the window: the next scan_budget records, newest first (their positions only)
    window = session.execute(
        after.with_only_columns(Record.created_at, Record.id)
        .order_by(*newest_first)
        .limit(scan_budget)
    ).all()
    if not window:
        return Browse([], None, scanned=0, exhaustive=True, encrypted=encrypted)
    oldest = window[-1]
    # the window's bound as a range on the listing index (a NOT over _older_than is not one:
    # SQLite would read on to the entity's oldest record)
    inside = after.where(
        Record.created_at >= oldest.created_at,
        or_(Record.created_at > oldest.created_at, Record.id >= oldest.id),
    )
    if _prefilter(needle):
        # the database keeps the records whose stored JSON text holds the text (cheap, in C);
        # each is then checked field by field (the JSON also holds field names)
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%"
        inside = inside.where(func.lower(cast(Record.data, Text)).like(pattern, escape="\\"))
    matches: list[Record] = []
    for record in session.scalars(inside.order_by(*newest_first)):
        if _contains(record.data, needle, hidden):
            matches.append(record)
            if len(matches) == limit:
                break
    full = len(matches) == limit
    last_id = matches[-1].id if full else oldest.id
    scanned = next(i for i, row in enumerate(window) if row.id == last_id) + 1
    reached_end = len(window) < scan_budget and not full
    next_cursor = None
    if not reached_end:
        last = matches[-1] if full else oldest
        next_cursor = _encode(last.created_at, last.id)
    return Browse(
        matches,
        next_cursor,
        scanned=scanned,
        exhaustive=reached_end,
        encrypted=encrypted,
    )


def _prefilter(needle: str) -> bool:
    """Whether stored JSON text can be searched for ``needle`` as is: printable ASCII without
    quotes or backslashes (JSON escapes those, control and non-ASCII characters)."""
    return all(" " <= c <= "~" for c in needle) and '"' not in needle and "\\" not in needle


def _lookup(
    session: Session, schema: Any, live: Any, query: str
) -> tuple[list[Record], str] | None:
    """Records found through an index: by id, or by the normal form of a match key."""
    try:
        record_id = str(uuid.UUID(query))
    except ValueError:
        record_id = None
    if record_id is not None:
        return _live_by_id(session, schema, [record_id]), "id"
    for key in schema.keys:
        if key.encrypted:
            continue
        value = key_value(key.type, query, region=schema.region)
        if value is None:
            continue
        # the ids first, then the records by primary key: as one query with ORDER BY, SQLite
        # walks the whole listing index and tests each record against the subquery (~1.5 s
        # at 1M records)
        ids = list(
            session.scalars(
                select(RecordKey.record_id)
                .where(
                    RecordKey.workspace_id == schema.workspace_id,
                    RecordKey.entity_id == schema.entity_id,
                    RecordKey.key == key.name,
                    RecordKey.value == value,
                )
                .limit(1_000)
            )
        )
        found = sorted(
            _live_by_id(session, schema, ids), key=lambda r: (r.created_at, r.id), reverse=True
        )[:200]
        if found:
            return found, key.name
    return None


def _live_by_id(session: Session, schema: Any, ids: Sequence[str]) -> list[Record]:
    """The live records of the schema's entity among ``ids``, read by primary key only (with
    the listing's columns in the WHERE, SQLite picks the listing index and walks it); the
    scope is checked here."""
    if not ids:
        return []
    return [
        r
        for r in session.scalars(select(Record).where(Record.id.in_(list(ids))))
        if r.workspace_id == schema.workspace_id
        and r.entity_id == schema.entity_id
        and r.deleted_at is None
    ]


def _contains(data: dict[str, Any], needle: str, hidden: set[str]) -> bool:
    for name, value in data.items():
        if name in hidden or value is None:
            continue
        values: Sequence[Any] = value if isinstance(value, list) else (value,)
        if any(needle in str(v).casefold() for v in values):
            return True
    return False


def _older_than(created_at: datetime, record_id: str) -> Any:
    return or_(
        Record.created_at < created_at,
        and_(Record.created_at == created_at, Record.id < record_id),
    )


def _encode(created_at: datetime, record_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, record_id = json.loads(raw)
        return datetime.fromisoformat(stamp), str(record_id)
    except Exception:
        raise ValidationError(
            "this page link is out of date: start from the first page",
            details={"field": "after"},
        ) from None
