"""Records: create, read, list, edit, soft-delete and restore, always inside one workspace.

These are the storage primitives. Every door (API, bulk, import, form, UI) saves through
:mod:`dupeguard.services.intake`, which checks values against the fields, applies the match
keys and the source's action, keeps the key index and the activity feed; :func:`create_record`
is a raw insert for internal use and tests.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..store.tables import Activity, Entity, List, ListMember, Record, RecordTag, utcnow

__all__ = [
    "MAX_PAGE",
    "MAX_VALUE",
    "RecordFilter",
    "check_values",
    "create_list",
    "create_record",
    "delete_record",
    "entity_named",
    "filtered_records",
    "get_record",
    "list_lists",
    "list_records",
    "record_counts",
    "restore_record",
    "tags_of",
    "update_record",
]

MAX_PAGE = 500
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_VALUE = 65_536
_MAX_TAG = 100


def entity_named(*, session: Session, workspace_id: str, name: str) -> Entity:
    entity = session.scalar(
        select(Entity).where(Entity.workspace_id == workspace_id, Entity.name == name)
    )
    if entity is None:
        raise NotFoundError(f"no entity {name!r} in this workspace")
    return entity


def check_values(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _FIELD_NAME.match(key):
            raise ValidationError(
                f"data.{key}: field names are lower-case letters, digits and _ (at most 64)",
                details={"field": f"data.{key}"},
            )
        out[key] = _clean_value(key, value)
    return out


def _clean_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and value != value:  # NaN
            raise ValidationError(f"data.{key}: not a number", details={"field": f"data.{key}"})
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE:
            raise ValidationError(
                f"data.{key}: at most {MAX_VALUE} characters", details={"field": f"data.{key}"}
            )
        if "\x00" in value:
            raise ValidationError(
                f"data.{key}: NUL characters are not allowed", details={"field": f"data.{key}"}
            )
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and len(value) <= 100:
        return [_clean_value(key, v) for v in value]
    raise ValidationError(
        f"data.{key}: a value is a string, number, boolean, null or a list of strings",
        details={"field": f"data.{key}"},
    )


def _clean_tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > _MAX_TAG:
            raise ValidationError(
                f"tags: each tag is 1-{_MAX_TAG} characters", details={"field": "tags"}
            )
        if tag.strip() not in out:
            out.append(tag.strip())
    return out


def _check_lists(session: Session, workspace_id: str, list_ids: Sequence[str]) -> None:
    if not list_ids:
        return
    found = set(
        session.scalars(
            select(List.id).where(List.workspace_id == workspace_id, List.id.in_(list_ids))
        )
    )
    missing = [i for i in list_ids if i not in found]
    if missing:
        raise NotFoundError(
            f"no list {missing[0]!r} in this workspace", details={"field": "list_ids"}
        )


def create_record(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    data: Mapping[str, Any],
    tags: Iterable[str] = (),
    list_ids: Sequence[str] = (),
) -> Record:
    """Store a new record (no duplicate checks here: intake wraps this)."""
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    clean = check_values(data)
    clean_tags = _clean_tags(tags)
    _check_lists(session, workspace_id, list_ids)
    record = Record(workspace_id=workspace_id, entity_id=target.id, data=clean)
    session.add(record)
    session.flush()
    for tag in clean_tags:
        session.add(RecordTag(record_id=record.id, tag=tag, workspace_id=workspace_id))
    for list_id in dict.fromkeys(list_ids):
        session.add(ListMember(list_id=list_id, record_id=record.id, workspace_id=workspace_id))
    session.flush()
    return record


def get_record(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    record_id: str,
    include_deleted: bool = True,
) -> Record:
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    record = session.scalar(
        select(Record).where(
            Record.id == record_id,
            Record.workspace_id == workspace_id,
            Record.entity_id == target.id,
        )
    )
    if record is None or (record.deleted_at is not None and not include_deleted):
        raise NotFoundError(f"no {entity} record {record_id!r} in this workspace")
    return record


class RecordFilter:
    """The scope of a listing or a scan: created after a time, carrying a tag, in a list."""

    def __init__(
        self,
        *,
        created_after: datetime | None = None,
        tag: str | None = None,
        list_id: str | None = None,
        include_deleted: bool = False,
    ) -> None:
        if created_after is not None and created_after.tzinfo is None:
            created_after = created_after.replace(tzinfo=UTC)
        self.created_after = created_after
        self.tag = tag
        self.list_id = list_id
        self.include_deleted = include_deleted

    def apply(self, query: Select[Any], workspace_id: str, entity_id: str) -> Select[Any]:
        query = query.where(Record.workspace_id == workspace_id, Record.entity_id == entity_id)
        if not self.include_deleted:
            query = query.where(Record.deleted_at.is_(None))
        if self.created_after is not None:
            query = query.where(Record.created_at > self.created_after)
        if self.tag is not None:
            query = query.where(_has(RecordTag, workspace_id, RecordTag.tag == self.tag))
        if self.list_id is not None:
            query = query.where(_has(ListMember, workspace_id, ListMember.list_id == self.list_id))
        return query


def _has(table: type[RecordTag] | type[ListMember], workspace_id: str, condition: Any) -> Any:
    """EXISTS a row of ``table`` for the record, in the workspace, meeting ``condition``."""
    return (
        select(table.record_id)
        .where(table.record_id == Record.id, table.workspace_id == workspace_id, condition)
        .exists()
    )


def filtered_records(
    *, session: Session, workspace_id: str, entity: str, scope: RecordFilter
) -> tuple[Entity, Select[Any]]:
    target = entity_named(session=session, workspace_id=workspace_id, name=entity)
    return target, scope.apply(select(Record), workspace_id, target.id)


def list_records(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    scope: RecordFilter,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Record], str | None]:
    """A page of records, newest last (keyset pagination on created_at, id)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})
    _, query = filtered_records(
        session=session, workspace_id=workspace_id, entity=entity, scope=scope
    )
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                Record.created_at > after_time,
                and_(Record.created_at == after_time, Record.id > after_id),
            )
        )
    rows = list(session.scalars(query.order_by(Record.created_at, Record.id).limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _encode_cursor(record: Record) -> str:
    stamp = record.created_at.isoformat()
    raw = json.dumps([stamp, record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, record_id = json.loads(raw)
        return datetime.fromisoformat(stamp), str(record_id)
    except Exception:
        raise ValidationError(
            "cursor: not a cursor this API gave out", details={"field": "cursor"}
        ) from None


def update_record(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    record_id: str,
    data: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    list_ids: Sequence[str] | None = None,
) -> Record:
    """Merge ``data`` into the record (a null value clears a field); replace tags/lists if given."""
    record = get_record(
        session=session,
        workspace_id=workspace_id,
        entity=entity,
        record_id=record_id,
        include_deleted=False,
    )
    if data is not None:
        merged = dict(record.data)
        for key, value in check_values(data).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        record.data = merged
    if tags is not None:
        clean = _clean_tags(tags)
        session.execute(delete(RecordTag).where(RecordTag.record_id == record.id))
        for tag in clean:
            session.add(RecordTag(record_id=record.id, tag=tag, workspace_id=workspace_id))
    if list_ids is not None:
        _check_lists(session, workspace_id, list_ids)
        session.execute(delete(ListMember).where(ListMember.record_id == record.id))
        for list_id in dict.fromkeys(list_ids):
            session.add(ListMember(list_id=list_id, record_id=record.id, workspace_id=workspace_id))
    record.version += 1
    record.updated_at = utcnow()
    session.flush()
    return record


def delete_record(
    *, session: Session, workspace_id: str, entity: str, record_id: str, source: str = "api"
) -> Record:
    """Soft delete: the record goes to the recycle bin and can be restored."""
    record = get_record(
        session=session, workspace_id=workspace_id, entity=entity, record_id=record_id
    )
    if record.deleted_at is None:
        record.deleted_at = utcnow()
        record.version += 1
        session.add(
            Activity(workspace_id=workspace_id, record_id=record.id, kind="deleted", source=source)
        )
    session.flush()
    return record


def restore_record(
    *, session: Session, workspace_id: str, entity: str, record_id: str, source: str = "api"
) -> Record:
    record = get_record(
        session=session, workspace_id=workspace_id, entity=entity, record_id=record_id
    )
    if record.deleted_at is not None:
        record.deleted_at = None
        record.version += 1
        session.add(
            Activity(workspace_id=workspace_id, record_id=record.id, kind="restored", source=source)
        )
    session.flush()
    return record


def tags_of(*, session: Session, record_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in record_ids}
    if record_ids:
        rows = session.execute(
            select(RecordTag.record_id, RecordTag.tag)
            .where(RecordTag.record_id.in_(record_ids))
            .order_by(RecordTag.tag)
        )
        for record_id, tag in rows:
            out[record_id].append(tag)
    return out


def record_counts(*, session: Session, workspace_id: str) -> dict[str, int]:
    """Live (not deleted) records per entity, every entity listed."""
    rows = session.execute(
        select(Entity.name, func.count(Record.id))
        .select_from(Entity)
        .outerjoin(
            Record,
            and_(
                Record.entity_id == Entity.id,
                Record.workspace_id == workspace_id,
                Record.deleted_at.is_(None),
            ),
        )
        .where(Entity.workspace_id == workspace_id)
        .group_by(Entity.name)
        .order_by(Entity.name)
    )
    return {name: int(count) for name, count in rows}


def create_list(*, session: Session, workspace_id: str, name: str) -> List:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("name: 1-200 characters", details={"field": "name"})
    existing = session.scalar(
        select(List).where(List.workspace_id == workspace_id, List.name == name)
    )
    if existing is not None:
        raise ConflictError(f"a list named {name!r} exists", details={"list_id": existing.id})
    created = List(workspace_id=workspace_id, name=name)
    session.add(created)
    session.flush()
    return created


def list_lists(*, session: Session, workspace_id: str) -> list[List]:
    return list(
        session.scalars(select(List).where(List.workspace_id == workspace_id).order_by(List.name))
    )
