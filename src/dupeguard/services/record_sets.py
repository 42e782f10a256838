"""Duplicate record sets: the review queue, one set with its members and pairs, and
"not a duplicate".

* :func:`list_sets` pages a workspace's sets by ``max_similarity`` (highest first; keyset
  pagination over ``ix_duplicate_record_sets_queue``), filtered by entity, status, a minimum
  similarity and the job that found them.
* :func:`mark_not_duplicate` remembers a reviewer's "these two are not the same"
  (:class:`~dupeguard.store.tables.NotDuplicate`, ids sorted, idempotent), audits it, and drops
  the pair from the set; a set left without pairs is ``dismissed``. Duplicate jobs leave such
  pairs out before clustering, so a rerun does not bring them back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..core.errors import NotFoundError, ValidationError
from ..store.session import begin_write
from ..store.tables import (
    DuplicatePair,
    DuplicateRecordSet,
    DuplicateSetMember,
    Entity,
    NotDuplicate,
    Record,
    utcnow,
)
from . import audit
from .records import entity_named

__all__ = [
    "MAX_PAGE",
    "STATUSES",
    "SetDetail",
    "get_set",
    "list_sets",
    "mark_not_duplicate",
    "members_of",
    "next_set",
    "open_sets_of_record",
    "reopen",
    "resolve_by_merge",
]

MAX_PAGE = 200
#: ``open`` (to review), ``superseded`` (a later job replaced it), ``dismissed`` (every pair
#: marked not-a-duplicate), ``merged`` (resolved by a merge).
STATUSES = ("open", "superseded", "dismissed", "merged")


@dataclass(frozen=True)
class SetDetail:
    record_set: DuplicateRecordSet
    entity: str
    members: list[DuplicateSetMember]
    records: dict[str, Record]
    pairs: list[DuplicatePair]


def _encode_cursor(item: DuplicateRecordSet) -> str:
    raw = json.dumps([item.max_similarity, item.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        similarity, set_id = json.loads(raw)
        if isinstance(similarity, bool) or not isinstance(similarity, int | float):
            raise ValueError
        if not isinstance(set_id, str):
            raise ValueError
        return float(similarity), set_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor: not a cursor this API gave out", details={"field": "cursor"}
        ) from None


def list_sets(
    *,
    session: Session,
    workspace_id: str,
    entity: str | None = None,
    status: str | None = "open",
    min_similarity: float | None = None,
    job_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[DuplicateRecordSet], str | None]:
    """Sets by ``max_similarity`` (highest first, then id); ``status=None`` means any."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})
    if status is not None and status not in STATUSES:
        raise ValidationError(
            f"status: one of {', '.join(STATUSES)}, or all", details={"field": "status"}
        )
    if min_similarity is not None and not 0.0 <= min_similarity <= 1.0:
        raise ValidationError(
            "min_similarity: between 0 and 1", details={"field": "min_similarity"}
        )
    query = select(DuplicateRecordSet).where(DuplicateRecordSet.workspace_id == workspace_id)
    if status is not None:
        query = query.where(DuplicateRecordSet.status == status)
    if entity is not None:
        target = entity_named(session=session, workspace_id=workspace_id, name=entity)
        query = query.where(DuplicateRecordSet.entity_id == target.id)
    if min_similarity is not None:
        query = query.where(DuplicateRecordSet.max_similarity >= min_similarity)
    if job_id is not None:
        query = query.where(DuplicateRecordSet.job_id == job_id)
    if cursor:
        similarity, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                DuplicateRecordSet.max_similarity < similarity,
                and_(
                    DuplicateRecordSet.max_similarity == similarity,
                    DuplicateRecordSet.id < last_id,
                ),
            )
        )
    found = list(
        session.scalars(
            query.order_by(
                DuplicateRecordSet.max_similarity.desc(), DuplicateRecordSet.id.desc()
            ).limit(limit + 1)
        )
    )
    next_cursor = _encode_cursor(found[limit - 1]) if len(found) > limit else None
    return found[:limit], next_cursor


def next_set(
    *,
    session: Session,
    workspace_id: str,
    after_set_id: str | None,
    entity: str | None = None,
    min_similarity: float | None = None,
) -> DuplicateRecordSet | None:
    """The open set after ``after_set_id`` in the queue's order (the first one without it or
    when that set is gone): the review's "next" (one keyset step of :func:`list_sets`)."""
    cursor = None
    if after_set_id:
        current = session.scalar(
            select(DuplicateRecordSet).where(
                DuplicateRecordSet.id == after_set_id,
                DuplicateRecordSet.workspace_id == workspace_id,
            )
        )
        if current is not None:
            cursor = _encode_cursor(current)
    found, _ = list_sets(
        session=session,
        workspace_id=workspace_id,
        entity=entity,
        min_similarity=min_similarity,
        limit=1,
        cursor=cursor,
    )
    return found[0] if found else None


def open_sets_of_record(
    *, session: Session, workspace_id: str, record_id: str, limit: int = 20
) -> list[DuplicateRecordSet]:
    """The open sets that hold ``record_id`` (from jobs and duplicate-rule reports), highest
    similarity first: the record's duplicate alerts (``ix_duplicate_set_members_record``)."""
    held = select(DuplicateSetMember.set_id).where(DuplicateSetMember.record_id == record_id)
    return list(
        session.scalars(
            select(DuplicateRecordSet)
            .where(
                DuplicateRecordSet.workspace_id == workspace_id,
                DuplicateRecordSet.status == "open",
                DuplicateRecordSet.id.in_(held),
            )
            .order_by(DuplicateRecordSet.max_similarity.desc(), DuplicateRecordSet.id.desc())
            .limit(limit)
        )
    )


def members_of(*, session: Session, set_ids: Sequence[str]) -> dict[str, list[DuplicateSetMember]]:
    """Members of each set (primary first, then by score), read in one query."""
    out: dict[str, list[DuplicateSetMember]] = {s: [] for s in set_ids}
    if not set_ids:
        return out
    for member in session.scalars(
        select(DuplicateSetMember)
        .where(DuplicateSetMember.set_id.in_(set_ids))
        .order_by(
            DuplicateSetMember.set_id,
            DuplicateSetMember.is_primary.desc(),
            DuplicateSetMember.score.desc(),
            DuplicateSetMember.record_id,
        )
    ):
        out[member.set_id].append(member)
    return out


def entity_names(*, session: Session, entity_ids: Iterable[str]) -> dict[str, str]:
    ids = list(set(entity_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Entity.id, Entity.name).where(Entity.id.in_(ids))).all())


def _get(
    session: Session, workspace_id: str, set_id: str, *, lock: bool = False
) -> DuplicateRecordSet:
    query = select(DuplicateRecordSet).where(
        DuplicateRecordSet.id == set_id, DuplicateRecordSet.workspace_id == workspace_id
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFoundError(f"no duplicate record set {set_id!r} in this workspace")
    return found


def get_set(*, session: Session, workspace_id: str, set_id: str) -> SetDetail:
    """The set with its members, their records and its pairs (highest similarity first)."""
    item = _get(session, workspace_id, set_id)
    members = members_of(session=session, set_ids=[item.id])[item.id]
    records = {
        r.id: r
        for r in session.scalars(  # by primary key alone (see intake._currents)
            select(Record).where(Record.id.in_([m.record_id for m in members]))
        )
        if r.workspace_id == workspace_id
    }
    pairs = list(
        session.scalars(
            select(DuplicatePair)
            .where(DuplicatePair.set_id == item.id)
            .order_by(DuplicatePair.similarity.desc(), DuplicatePair.id)
        )
    )
    entity = session.scalar(select(Entity.name).where(Entity.id == item.entity_id)) or ""
    return SetDetail(item, entity, members, records, pairs)


def mark_not_duplicate(
    *,
    session: Session,
    workspace_id: str,
    set_id: str,
    pairs: Sequence[Sequence[str]],
    actor: str | None = None,
    request_id: str | None = None,
) -> DuplicateRecordSet:
    """Remember that each pair (two members of the set) is not a duplicate, audit it, and drop
    the pair from the set (a set left without pairs is ``dismissed``). Marking a pair twice
    changes nothing more. Takes the write lock first: give it a fresh session."""
    if not pairs:
        raise ValidationError(
            "name a pair: record_ids (two members) or pairs", details={"field": "pairs"}
        )
    begin_write(session)
    item = _get(session, workspace_id, set_id, lock=True)
    members = {
        m
        for m in session.scalars(
            select(DuplicateSetMember.record_id).where(DuplicateSetMember.set_id == item.id)
        )
    }
    wanted: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValidationError(
                f"pairs[{i}]: two different record ids", details={"field": f"pairs[{i}]"}
            )
        outside = [r for r in pair if r not in members]
        if outside:
            raise ValidationError(
                f"pairs[{i}]: record {outside[0]!r} is not a member of this set",
                details={"field": f"pairs[{i}]", "record_id": outside[0]},
            )
        a, b = sorted(pair)
        if (a, b) not in wanted:
            wanted.append((a, b))
    known = {
        (a, b)
        for a, b in session.execute(
            select(NotDuplicate.record_a, NotDuplicate.record_b).where(
                NotDuplicate.workspace_id == workspace_id,
                or_(
                    *(
                        and_(NotDuplicate.record_a == a, NotDuplicate.record_b == b)
                        for a, b in wanted
                    )
                ),
            )
        )
    }
    entity = session.scalar(select(Entity.name).where(Entity.id == item.entity_id))
    for a, b in wanted:
        if (a, b) not in known:
            session.add(
                NotDuplicate(workspace_id=workspace_id, record_a=a, record_b=b, actor=actor)
            )
            audit.record(
                session=session,
                workspace_id=workspace_id,
                kind="not_duplicate",
                entity=entity,
                record_id=a,
                matched_ids=[b],
                action="not_duplicate",
                actor=actor,
                rule_id=item.rule_id,  # a set a duplicate rule reported counts for that rule
                details={"set_id": item.id, "job_id": item.job_id},
                request_id=request_id,
            )
        session.execute(
            delete(DuplicatePair).where(
                DuplicatePair.set_id == item.id,
                or_(
                    and_(DuplicatePair.primary_id == a, DuplicatePair.duplicate_id == b),
                    and_(DuplicatePair.primary_id == b, DuplicatePair.duplicate_id == a),
                ),
            )
        )
    session.flush()
    remaining = session.scalar(
        select(func.max(DuplicatePair.similarity)).where(DuplicatePair.set_id == item.id)
    )
    if remaining is None:
        if item.status == "open":
            item.status = "dismissed"
            item.resolved_at = utcnow()
    else:
        item.max_similarity = float(remaining)
    session.flush()
    return item


def resolve_by_merge(
    *, session: Session, workspace_id: str, record_ids: Sequence[str]
) -> list[str]:
    """Mark the open sets holding two or more of the merged records ``merged``; their ids
    (the merge keeps them so that an undo can reopen them)."""
    held = (
        select(DuplicateSetMember.set_id)
        .where(DuplicateSetMember.record_id.in_(list(record_ids)))
        .group_by(DuplicateSetMember.set_id)
        .having(func.count() >= 2)
    )
    ids = list(
        session.scalars(
            select(DuplicateRecordSet.id).where(
                DuplicateRecordSet.workspace_id == workspace_id,
                DuplicateRecordSet.status == "open",
                DuplicateRecordSet.id.in_(held),
            )
        )
    )
    if ids:
        session.execute(
            update(DuplicateRecordSet)
            .where(DuplicateRecordSet.id.in_(ids))
            .values(status="merged", resolved_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return ids


def reopen(*, session: Session, workspace_id: str, set_ids: Sequence[str]) -> None:
    """Reopen sets a merge resolved (its undo)."""
    if set_ids:
        session.execute(
            update(DuplicateRecordSet)
            .where(
                DuplicateRecordSet.workspace_id == workspace_id,
                DuplicateRecordSet.id.in_(list(set_ids)),
                DuplicateRecordSet.status == "merged",
            )
            .values(status="open", resolved_at=None)
            .execution_options(synchronize_session=False)
        )
