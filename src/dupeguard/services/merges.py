"""Merges: fold up to 10 duplicates into one survivor, and undo that within 30 days.

A merge, in one transaction:

* checks the records: the survivor and its duplicates are distinct, live (not deleted or
  merged) records of the entity in the caller's workspace (another workspace's ids are
  ``not_found``, a deleted or merged one is a ``conflict``);
* merges the values field by field: a field named in ``choices`` takes the value of the record
  chosen for it; any other field keeps the survivor's value if it is non-empty, else takes the
  most recently updated duplicate's non-empty value;
* moves related data to the survivor: links from or to a duplicate are re-pointed (a link that
  would become a self-link or repeat one the survivor has is dropped), the duplicates'
  activity moves, their tags and list memberships are added;
* soft-deletes the duplicates with ``merged_into`` (versions bumped), keeps the match-key
  index right for the survivor, writes a ``merged`` activity and a ``merge`` audit entry;
* stores a :class:`Merge` row whose ``snapshot`` holds everything an exact undo needs: each
  record's before-state (data as stored, deleted_at, merged_into, version, updated_at), the
  versions the merge left, and every moved or dropped link, moved activity, added tag and
  list membership.

An undo restores data, deleted_at and merged_into of every record, the links (moved ones
re-pointed, dropped ones re-inserted with their ids), the activities' records, and removes the
added tags and list memberships; versions go back to their before-values (so undoing merges in
reverse order works) and ``updated_at`` is the undo's time, so sync clients see the change.
It refuses (``conflict``, saying why) when the merge was undone already, is older than 30
days, or a record changed since (its version moved on: edited, restored, merged again, or
deleted permanently).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..store.session import begin_write
from ..store.tables import (
    Activity,
    AuditEntry,
    DuplicateRecordSet,
    Entity,
    ListMember,
    Merge,
    Record,
    RecordLink,
    RecordTag,
    new_id,
    utcnow,
)
from . import audit, crypto, record_sets
from .intake import load_schema, redact, write_keys
from .links import encode_cursor
from .records import _decode_cursor

__all__ = [
    "MAX_DUPLICATES",
    "MAX_PAGE",
    "UNDO_WINDOW",
    "audit_entries",
    "get_merge",
    "list_merges",
    "merge",
    "merged_values",
    "merges_by_id",
    "moved_counts",
    "undo",
    "undo_deadline",
    "undoable",
]

MAX_DUPLICATES = 10
MAX_PAGE = 500
UNDO_WINDOW = timedelta(days=30)
_CHUNK = 500


def undo_deadline(item: Merge) -> datetime:
    return item.created_at + UNDO_WINDOW


def _empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def merged_values(
    primary_id: str,
    duplicate_ids: Sequence[str],
    plain: Mapping[str, Mapping[str, Any]],
    updated_at: Mapping[str, datetime],
    choices: Mapping[str, str],
) -> dict[str, Any]:
    """The survivor's values after a merge (plaintext in, plaintext out).

    A field in ``choices`` takes the chosen record's value (absent there: the field is
    cleared); otherwise the survivor's non-empty value, else the non-empty value of the most
    recently updated duplicate (ties: the order of ``duplicate_ids``), else the survivor's.
    """
    recent = sorted(duplicate_ids, key=lambda i: updated_at[i], reverse=True)
    names = sorted({name for values in plain.values() for name in values} | set(choices))
    out: dict[str, Any] = {}
    for name in names:
        own = plain[primary_id].get(name)
        if name in choices:
            value = plain[choices[name]].get(name)
        elif not _empty(own):
            value = own
        else:
            value = next((plain[i][name] for i in recent if not _empty(plain[i].get(name))), own)
        if value is not None:
            out[name] = value
    return out


def _check_request(
    primary_id: str, duplicate_ids: Sequence[str], choices: Mapping[str, Any]
) -> None:
    if not isinstance(primary_id, str) or not primary_id:
        raise ValidationError("primary_id: a record id", details={"field": "primary_id"})
    if not duplicate_ids:
        raise ValidationError(
            "duplicate_ids: at least one record to merge into the primary",
            details={"field": "duplicate_ids"},
        )
    if len(duplicate_ids) > MAX_DUPLICATES:
        raise ValidationError(
            f"duplicate_ids: at most {MAX_DUPLICATES} records per merge (got {len(duplicate_ids)})",
            details={"field": "duplicate_ids"},
        )
    if primary_id in duplicate_ids:
        raise ValidationError(
            "duplicate_ids: the primary record cannot also be a duplicate",
            details={"field": "duplicate_ids", "record_id": primary_id},
        )
    if len(set(duplicate_ids)) != len(duplicate_ids):
        raise ValidationError("duplicate_ids: each record once", details={"field": "duplicate_ids"})
    ids = {primary_id, *duplicate_ids}
    for name, chosen in choices.items():
        if chosen not in ids:
            raise ValidationError(
                f"choices.{name}: the id of the primary or of one of the duplicates",
                details={"field": f"choices.{name}"},
            )


def _lock_records(session: Session, workspace_id: str, ids: Sequence[str]) -> dict[str, Record]:
    """The records, locked (FOR UPDATE on PostgreSQL, in id order; SQLite holds the write
    lock already)."""
    rows = session.scalars(  # by primary key alone (see intake._currents), then the workspace
        select(Record).where(Record.id.in_(ids)).order_by(Record.id).with_for_update()
    ).all()
    return {r.id: r for r in rows if r.workspace_id == workspace_id}


def _link_row(link: RecordLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "record_id": link.record_id,
        "target_id": link.target_id,
        "label": link.label,
        "created_at": _iso(link.created_at),
    }


def merge(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    primary_id: str,
    duplicate_ids: Sequence[str],
    choices: Mapping[str, str] | None = None,
    source: str = "api",
    actor: str | None = None,
    region: str = "US",
    request_id: str | None = None,
) -> Merge:
    """Merge ``duplicate_ids`` into ``primary_id``. Call on a session that has not begun (it
    takes the write lock first)."""
    begin_write(session)
    dups = list(duplicate_ids)
    picks = dict(choices or {})
    _check_request(primary_id, dups, picks)
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    ids = [primary_id, *dups]
    by_id = _lock_records(session, workspace_id, ids)
    for record_id in ids:
        found = by_id.get(record_id)
        if found is None or found.entity_id != schema.entity_id:
            raise NotFoundError(
                f"no {entity} record {record_id!r} in this workspace",
                details={"record_id": record_id},
            )
    for record_id in ids:
        found = by_id[record_id]
        if found.merged_into is not None:
            raise ConflictError(
                f"record {record_id} was merged into {found.merged_into} already",
                details={"record_id": record_id, "merged_into": found.merged_into},
            )
        if found.deleted_at is not None:
            raise ConflictError(
                f"record {record_id} is deleted: restore it before merging",
                details={"record_id": record_id},
            )
    plain = {i: crypto.unseal(by_id[i].data, schema.encrypted) for i in ids}
    for name in picks:
        if name not in schema.fields and not any(name in values for values in plain.values()):
            raise ValidationError(
                f"choices.{name}: no field {name!r} in {entity}",
                details={"field": f"choices.{name}"},
            )
    survivor = by_id[primary_id]
    merged = merged_values(primary_id, dups, plain, {i: by_id[i].updated_at for i in ids}, picks)
    changes = {
        name: {"old": plain[primary_id].get(name), "new": merged.get(name)}
        for name in sorted(set(plain[primary_id]) | set(merged))
        if plain[primary_id].get(name) != merged.get(name)
    }
    merge_id = new_id()
    now = utcnow()
    losers = set(dups)
    before = {
        i: {
            "data": dict(by_id[i].data),
            "deleted_at": _iso(by_id[i].deleted_at),
            "merged_into": by_id[i].merged_into,
            "version": by_id[i].version,
            "updated_at": _iso(by_id[i].updated_at),
        }
        for i in ids
    }
    links = _move_links(session, workspace_id, primary_id, losers)
    activities = _move_activities(session, workspace_id, primary_id, dups)
    tags_added, lists_added = _add_tags_and_lists(session, workspace_id, primary_id, dups)

    # the survivor keeps its stored value (ciphertext included) where the value is unchanged
    stored = {
        name: (
            survivor.data[name]
            if name in survivor.data and plain[primary_id].get(name) == value
            else value
        )
        for name, value in merged.items()
    }
    if changes:
        survivor.data = crypto.seal(stored, schema.encrypted)
    survivor.version += 1
    survivor.updated_at = now
    for record_id in dups:
        loser = by_id[record_id]
        loser.deleted_at = now
        loser.merged_into = primary_id
        loser.version += 1
        loser.updated_at = now
    session.flush()
    write_keys(session, schema, primary_id, merged)

    shown = redact(changes, schema.encrypted)
    details: dict[str, Any] = {"merge_id": merge_id, "duplicate_ids": dups}
    if actor:
        details["actor"] = actor
    session.add(
        Activity(
            workspace_id=workspace_id,
            record_id=primary_id,
            kind="merged",
            source=source,
            changes=shown,
            details=details,
            created_at=now,
        )
    )
    for record_id in dups:
        session.add(
            Activity(
                workspace_id=workspace_id,
                record_id=record_id,
                kind="merged_into",
                source=source,
                details={"merge_id": merge_id, "survivor_id": primary_id}
                | ({"actor": actor} if actor else {}),
                created_at=now,
            )
        )
    item = Merge(
        id=merge_id,
        workspace_id=workspace_id,
        entity_id=schema.entity_id,
        primary_id=primary_id,
        duplicate_ids=dups,
        choices=picks,
        actor=actor,
        created_at=now,
        snapshot={
            "format": 1,
            "records": before,
            "after": {i: by_id[i].version for i in ids},
            "links_moved": links[0],
            "links_dropped": links[1],
            "activities": activities,
            "tags_added": tags_added,
            "lists_added": lists_added,
            "changes": shown,
            "sets_resolved": record_sets.resolve_by_merge(
                session=session, workspace_id=workspace_id, record_ids=[primary_id, *dups]
            ),
        },
    )
    session.add(item)
    resolved = item.snapshot["sets_resolved"]
    reported_by = (
        session.scalar(
            select(DuplicateRecordSet.rule_id)
            .where(DuplicateRecordSet.id.in_(resolved), DuplicateRecordSet.rule_id.is_not(None))
            .limit(1)
        )
        if resolved
        else None
    )
    audit.record(
        session=session,
        workspace_id=workspace_id,
        kind="merge",
        rule_id=reported_by,  # the merge of a set a duplicate rule reported counts for it
        entity=schema.entity,
        source=source,
        record_id=primary_id,
        matched_ids=dups,
        action="merge",
        actor=actor,
        details={
            "merge_id": merge_id,
            "changed_fields": sorted(changes),
            "choices": picks,
            "moved": moved_counts(item.snapshot),
        },
        request_id=request_id,
    )
    session.flush()
    return item


def _move_links(
    session: Session, workspace_id: str, primary_id: str, losers: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Re-point the losers' links to the survivor; drop self-links and repeats. Returns the
    moved and the dropped links as they were."""
    touching = session.scalars(
        select(RecordLink)
        .where(
            RecordLink.workspace_id == workspace_id,
            or_(RecordLink.record_id.in_(losers), RecordLink.target_id.in_(losers)),
        )
        .order_by(RecordLink.created_at, RecordLink.id)
    ).all()
    if not touching:
        return [], []
    moving = {link.id for link in touching}
    taken = {
        (link.record_id, link.target_id, link.label)
        for link in session.scalars(
            select(RecordLink).where(
                RecordLink.workspace_id == workspace_id,
                or_(RecordLink.record_id == primary_id, RecordLink.target_id == primary_id),
            )
        )
        if link.id not in moving
    }
    moved: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    targets: list[tuple[str, str, str]] = []
    for link in touching:
        source = primary_id if link.record_id in losers else link.record_id
        target = primary_id if link.target_id in losers else link.target_id
        triple = (source, target, link.label)
        if source == target or triple in taken:
            dropped.append(_link_row(link))
        else:
            moved.append(_link_row(link))
            targets.append(triple)
            taken.add(triple)
    if dropped:
        session.execute(
            delete(RecordLink)
            .where(RecordLink.id.in_([row["id"] for row in dropped]))
            .execution_options(synchronize_session="fetch")
        )
    for row, (source, target, _label) in zip(moved, targets, strict=True):
        session.execute(
            update(RecordLink)
            .where(RecordLink.id == row["id"])
            .values(record_id=source, target_id=target)
            .execution_options(synchronize_session="fetch")
        )
    return moved, dropped


def _move_activities(
    session: Session, workspace_id: str, primary_id: str, losers: Sequence[str]
) -> list[list[str]]:
    """Move the losers' activity to the survivor; returns ``[activity_id, record_id]`` pairs."""
    rows = [
        [activity_id, record_id]
        for activity_id, record_id in session.execute(
            select(Activity.id, Activity.record_id)
            .where(Activity.workspace_id == workspace_id, Activity.record_id.in_(losers))
            .order_by(Activity.id)
        )
    ]
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(Activity)
            .where(Activity.id.in_(ids[start : start + _CHUNK]))
            .values(record_id=primary_id)
            .execution_options(synchronize_session=False)
        )
    return rows


def _add_tags_and_lists(
    session: Session, workspace_id: str, primary_id: str, losers: Sequence[str]
) -> tuple[list[str], list[str]]:
    own_tags = set(session.scalars(select(RecordTag.tag).where(RecordTag.record_id == primary_id)))
    tags = sorted(
        set(session.scalars(select(RecordTag.tag).where(RecordTag.record_id.in_(losers))))
        - own_tags
    )
    own_lists = set(
        session.scalars(select(ListMember.list_id).where(ListMember.record_id == primary_id))
    )
    lists = sorted(
        set(session.scalars(select(ListMember.list_id).where(ListMember.record_id.in_(losers))))
        - own_lists
    )
    if tags:
        session.execute(
            insert(RecordTag),
            [{"record_id": primary_id, "tag": t, "workspace_id": workspace_id} for t in tags],
        )
    if lists:
        session.execute(
            insert(ListMember),
            [
                {"list_id": list_id, "record_id": primary_id, "workspace_id": workspace_id}
                for list_id in lists
            ],
        )
    return tags, lists


def moved_counts(snapshot: Mapping[str, Any]) -> dict[str, int]:
    return {
        "links_moved": len(snapshot.get("links_moved", [])),
        "links_dropped": len(snapshot.get("links_dropped", [])),
        "activities": len(snapshot.get("activities", [])),
        "tags_added": len(snapshot.get("tags_added", [])),
        "lists_added": len(snapshot.get("lists_added", [])),
    }


# --- undo ----------------------------------------------------------------------------------


def get_merge(*, session: Session, workspace_id: str, merge_id: str) -> Merge:
    item = session.scalar(
        select(Merge).where(Merge.id == merge_id, Merge.workspace_id == workspace_id)
    )
    if item is None:
        raise NotFoundError(f"no merge {merge_id!r} in this workspace")
    return item


def merges_by_id(*, session: Session, workspace_id: str, merge_ids: Iterable[str]) -> list[Merge]:
    """The workspace's merges among ``merge_ids`` (by primary key; e.g. the ids a record's
    ``merged`` activities name), newest first."""
    ids = list(dict.fromkeys(merge_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Merge)
            .where(Merge.id.in_(ids), Merge.workspace_id == workspace_id)
            .order_by(Merge.created_at.desc(), Merge.id.desc())
        )
    )


def undoable(item: Merge, *, now: datetime | None = None) -> bool:
    """Not undone yet and within :data:`UNDO_WINDOW` (the undo may still refuse a record that
    changed since)."""
    return item.undone_at is None and (now or utcnow()) <= undo_deadline(item)


def _restorable(stored: Mapping[str, Any], encrypted: Iterable[str]) -> dict[str, Any]:
    """Snapshot data as it must be stored now: unchanged, unless a field's encryption flag
    changed since the merge (then sealed or opened accordingly)."""
    sealed = set(encrypted)
    out = dict(stored)
    for name, value in stored.items():
        is_cipher = isinstance(value, str) and value.startswith(crypto.PREFIX)
        if is_cipher and name not in sealed:
            out[name] = crypto.require().decrypt(value)
    return crypto.seal(out, sealed)


def _blocked(
    session: Session, item: Merge, record_id: str, found: Record | None, expected: int
) -> ConflictError | None:
    """Why ``record_id`` cannot be restored exactly, or None."""
    if found is None:
        return ConflictError(
            f"record {record_id} was deleted permanently since the merge: it cannot be restored",
            details={"record_id": record_id, "reason": "record_gone"},
        )
    if found.version == expected:
        return None
    later = session.scalars(
        select(Merge)
        .where(
            Merge.workspace_id == item.workspace_id,
            Merge.created_at >= item.created_at,
            Merge.id != item.id,
            Merge.undone_at.is_(None),
            or_(Merge.primary_id == record_id, Merge.primary_id == found.merged_into),
        )
        .order_by(Merge.created_at.desc())
    ).all()
    details: dict[str, Any] = {
        "record_id": record_id,
        "expected_version": expected,
        "version": found.version,
    }
    for other in later:
        if record_id in other.duplicate_ids:
            return ConflictError(
                f"record {record_id} was merged into {other.primary_id} since (merge "
                f"{other.id}): undo that merge first",
                details=details | {"reason": "merged_again", "merge_id": other.id},
            )
        if other.primary_id == record_id:
            return ConflictError(
                f"record {record_id} absorbed other records since (merge {other.id}): undo "
                "that merge first",
                details=details | {"reason": "merged_again", "merge_id": other.id},
            )
    return ConflictError(
        f"record {record_id} changed since the merge (version {expected}, now "
        f"{found.version}): an exact undo would overwrite those changes",
        details=details | {"reason": "changed"},
    )


def undo(
    *,
    session: Session,
    workspace_id: str,
    merge_id: str,
    source: str = "api",
    actor: str | None = None,
    region: str = "US",
    request_id: str | None = None,
) -> Merge:
    """Undo a merge exactly (see the module docs). Call on a session that has not begun."""
    begin_write(session)
    item = session.scalar(
        select(Merge)
        .where(Merge.id == merge_id, Merge.workspace_id == workspace_id)
        .with_for_update()
    )
    if item is None:
        raise NotFoundError(f"no merge {merge_id!r} in this workspace")
    if item.undone_at is not None:
        raise ConflictError(
            f"merge {merge_id} was undone already (at {_iso(item.undone_at)})",
            details={"merge_id": merge_id, "reason": "undone", "undone_at": _iso(item.undone_at)},
        )
    now = utcnow()
    deadline = undo_deadline(item)
    if now > deadline:
        raise ConflictError(
            f"merge {merge_id} was made on {item.created_at.date().isoformat()}: a merge can be "
            f"undone for {UNDO_WINDOW.days} days only (until {_iso(deadline)})",
            details={"merge_id": merge_id, "reason": "expired", "undo_deadline": _iso(deadline)},
        )
    entity = session.scalar(select(Entity.name).where(Entity.id == item.entity_id))
    if entity is None:  # pragma: no cover - entities cascade to merges
        raise NotFoundError(f"no merge {merge_id!r} in this workspace")
    schema = load_schema(session=session, workspace_id=workspace_id, entity=entity, region=region)
    snap = item.snapshot
    primary_id = item.primary_id
    ids = [primary_id, *item.duplicate_ids]
    by_id = _lock_records(session, workspace_id, ids)
    for record_id in ids:
        problem = _blocked(
            session, item, record_id, by_id.get(record_id), int(snap["after"][record_id])
        )
        if problem is not None:
            raise problem

    survivor = by_id[primary_id]
    current = crypto.unseal(survivor.data, schema.encrypted)
    plain: dict[str, dict[str, Any]] = {}
    for record_id in ids:
        state = snap["records"][record_id]
        record = by_id[record_id]
        record.data = _restorable(state["data"], schema.encrypted)
        record.deleted_at = _parse(state["deleted_at"])
        record.merged_into = state["merged_into"]
        # the version too: the state is the before-state exactly (no change came between,
        # checked above), and an earlier merge of these records can then be undone in turn
        record.version = int(state["version"])
        record.updated_at = now
        plain[record_id] = crypto.unseal(record.data, schema.encrypted)
    session.flush()
    _restore_links(session, workspace_id, snap)
    _restore_activities(session, primary_id, snap)
    if snap["tags_added"]:
        session.execute(
            delete(RecordTag).where(
                RecordTag.record_id == primary_id, RecordTag.tag.in_(snap["tags_added"])
            )
        )
    if snap["lists_added"]:
        session.execute(
            delete(ListMember).where(
                ListMember.record_id == primary_id, ListMember.list_id.in_(snap["lists_added"])
            )
        )
    for record_id in ids:
        write_keys(session, schema, record_id, plain[record_id])

    restored = plain[primary_id]
    changes = {
        name: {"old": current.get(name), "new": restored.get(name)}
        for name in sorted(set(current) | set(restored))
        if current.get(name) != restored.get(name)
    }
    details: dict[str, Any] = {"merge_id": item.id, "duplicate_ids": list(item.duplicate_ids)}
    if actor:
        details["actor"] = actor
    session.add(
        Activity(
            workspace_id=workspace_id,
            record_id=primary_id,
            kind="unmerged",
            source=source,
            changes=redact(changes, schema.encrypted),
            details=details,
            created_at=now,
        )
    )
    for record_id in item.duplicate_ids:
        session.add(
            Activity(
                workspace_id=workspace_id,
                record_id=record_id,
                kind="unmerged",
                source=source,
                details={"merge_id": item.id, "survivor_id": primary_id}
                | ({"actor": actor} if actor else {}),
                created_at=now,
            )
        )
    record_sets.reopen(
        session=session, workspace_id=workspace_id, set_ids=snap.get("sets_resolved", [])
    )
    item.undone_at = now
    audit.record(
        session=session,
        workspace_id=workspace_id,
        kind="undo",
        entity=schema.entity,
        source=source,
        record_id=primary_id,
        matched_ids=list(item.duplicate_ids),
        action="undo",
        actor=actor,
        details={"merge_id": item.id, "restored_fields": sorted(changes)},
        request_id=request_id,
    )
    session.flush()
    return item


def _restore_links(session: Session, workspace_id: str, snap: Mapping[str, Any]) -> None:
    rows: list[dict[str, Any]] = [*snap["links_moved"], *snap["links_dropped"]]
    if not rows:
        return
    ends = {row["record_id"] for row in rows} | {row["target_id"] for row in rows}
    alive = {
        record_id
        for record_id, owner in session.execute(
            select(Record.id, Record.workspace_id).where(Record.id.in_(ends))
        )
        if owner == workspace_id
    }
    present = set(
        session.scalars(select(RecordLink.id).where(RecordLink.id.in_([r["id"] for r in rows])))
    )
    missing: list[dict[str, Any]] = []
    for row in snap["links_moved"]:
        if row["id"] in present:
            session.execute(
                update(RecordLink)
                .where(RecordLink.id == row["id"])
                .values(record_id=row["record_id"], target_id=row["target_id"])
                .execution_options(synchronize_session="fetch")
            )
        else:  # deleted after the merge: it existed before, so it comes back
            missing.append(row)
    missing.extend(row for row in snap["links_dropped"] if row["id"] not in present)
    restore = [
        {
            "id": row["id"],
            "workspace_id": workspace_id,
            "record_id": row["record_id"],
            "target_id": row["target_id"],
            "label": row["label"],
            "created_at": _parse(row["created_at"]),
        }
        for row in missing
        # an end deleted permanently since took its links with it (as it would have anyway)
        if row["record_id"] in alive and row["target_id"] in alive
    ]
    for row in restore:
        exists = session.scalar(
            select(RecordLink.id).where(
                RecordLink.record_id == row["record_id"],
                RecordLink.target_id == row["target_id"],
                RecordLink.label == row["label"],
            )
        )
        if exists is None:
            session.execute(insert(RecordLink), [row])


def _restore_activities(session: Session, primary_id: str, snap: Mapping[str, Any]) -> None:
    by_record: dict[str, list[str]] = {}
    for activity_id, record_id in snap["activities"]:
        by_record.setdefault(record_id, []).append(activity_id)
    for record_id, activity_ids in by_record.items():
        for start in range(0, len(activity_ids), _CHUNK):
            session.execute(
                update(Activity)
                .where(
                    Activity.id.in_(activity_ids[start : start + _CHUNK]),
                    Activity.record_id == primary_id,
                )
                .values(record_id=record_id)
                .execution_options(synchronize_session=False)
            )


# --- listings ------------------------------------------------------------------------------


def _newest_first(query: Any, column: Any, id_column: Any, cursor: str | None) -> Any:
    if cursor:
        before_time, before_id = _decode_cursor(cursor)
        query = query.where(
            or_(column < before_time, and_(column == before_time, id_column < before_id))
        )
    return query.order_by(column.desc(), id_column.desc())


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})


def list_merges(
    *,
    session: Session,
    workspace_id: str,
    entity: str | None = None,
    record_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Merge], str | None]:
    """Merges, newest first (keyset pagination on created_at, id)."""
    _check_limit(limit)
    query = select(Merge).where(Merge.workspace_id == workspace_id)
    if entity is not None:
        query = query.join(Entity, Entity.id == Merge.entity_id).where(Entity.name == entity)
    if record_id is not None:
        query = query.where(
            or_(Merge.primary_id == record_id, _json_holds(Merge.duplicate_ids, record_id))
        )
    query = _newest_first(query, Merge.created_at, Merge.id, cursor)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id)
    return rows[:limit], next_cursor


def _json_holds(column: Any, value: str) -> Any:
    """``column`` (a JSON list of strings) holds ``value``: a LIKE on its text, the value a
    bound parameter with LIKE's metacharacters escaped."""
    needle = json.dumps(value)
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, String).like(f"%{escaped}%", escape="\\")


def audit_entries(
    *,
    session: Session,
    workspace_id: str,
    kind: str | None = None,
    entity: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
    rule_id: str | None = None,
    actor: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[AuditEntry], str | None]:
    """The audit log, newest first (keyset on created_at, id). Every filter is a bound
    parameter; ``record_id`` matches the entry's record or one of its matched ids. Every
    filter narrows the walk down the ``(workspace_id, created_at)`` index, which stops at
    ``limit`` + 1 rows."""
    _check_limit(limit)
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if kind is not None:
        query = query.where(AuditEntry.kind == kind)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if source is not None:
        query = query.where(AuditEntry.source == source)
    if record_id is not None:
        query = query.where(
            or_(
                AuditEntry.record_id == record_id,
                _json_holds(AuditEntry.matched_ids, record_id),
            )
        )
    if rule_id is not None:
        query = query.where(AuditEntry.rule_id == rule_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if created_after is not None:
        query = query.where(AuditEntry.created_at > _aware(created_after))
    if created_before is not None:
        query = query.where(AuditEntry.created_at < _aware(created_before))
    query = _newest_first(query, AuditEntry.created_at, AuditEntry.id, cursor)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id)
    return rows[:limit], next_cursor


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
