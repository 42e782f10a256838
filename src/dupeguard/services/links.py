"""Record links: relations between two records of a workspace (a deal's contact, a contact's
company). ``record_id`` points at ``target_id`` with a ``label``; a merge moves links to the
survivor (:mod:`dupeguard.services.merges`).

Both ends must be live records of the caller's workspace (any entity); another workspace's ids
are ``not_found``; a deleted or merged record is a ``conflict``. The same (source, target,
label) is stored once.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..store.session import begin_write
from ..store.tables import Record, RecordLink
from .records import _decode_cursor, get_record

__all__ = [
    "MAX_LABEL",
    "MAX_PAGE",
    "create_link",
    "delete_link",
    "encode_cursor",
    "list_links",
]

MAX_LABEL = 64
MAX_PAGE = 500


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """A keyset cursor on (created_at, id), in the format ``records._decode_cursor`` reads."""
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _live(record: Record, what: str) -> None:
    if record.deleted_at is not None:
        why = f"merged into {record.merged_into}" if record.merged_into else "deleted"
        raise ConflictError(
            f"{what} {record.id} is {why}: links join live records only",
            details={"record_id": record.id, "merged_into": record.merged_into},
        )


def create_link(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    record_id: str,
    target_id: str,
    label: str = "",
) -> RecordLink:
    """Link ``record_id`` (of ``entity``) to ``target_id`` (any entity). Call on a session that
    has not begun (it takes the write lock first)."""
    begin_write(session)
    label = (label or "").strip()
    if len(label) > MAX_LABEL:
        raise ValidationError(f"label: at most {MAX_LABEL} characters", details={"field": "label"})
    if target_id == record_id:
        raise ValidationError(
            "target_id: a record cannot link to itself", details={"field": "target_id"}
        )
    source = get_record(
        session=session, workspace_id=workspace_id, entity=entity, record_id=record_id
    )
    # FOR SHARE on PostgreSQL: a concurrent merge (FOR UPDATE) of either end waits for us
    target = session.scalar(
        select(Record)
        .where(Record.id == target_id, Record.workspace_id == workspace_id)
        .with_for_update(read=True)
    )
    if target is None:
        raise NotFoundError(
            f"no record {target_id!r} in this workspace", details={"field": "target_id"}
        )
    session.scalar(select(Record.id).where(Record.id == source.id).with_for_update(read=True))
    _live(source, "record")
    _live(target, "target")
    existing = session.scalar(
        select(RecordLink.id).where(
            RecordLink.record_id == source.id,
            RecordLink.target_id == target.id,
            RecordLink.label == label,
        )
    )
    if existing is not None:
        raise ConflictError(
            "this link exists already", details={"link_id": existing, "field": "target_id"}
        )
    link = RecordLink(
        workspace_id=workspace_id, record_id=source.id, target_id=target.id, label=label
    )
    try:
        with session.begin_nested():
            session.add(link)
    except IntegrityError:  # a concurrent request stored the same link (PostgreSQL)
        raise ConflictError("this link exists already", details={"field": "target_id"}) from None
    return link


def list_links(
    *,
    session: Session,
    workspace_id: str,
    entity: str,
    record_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[RecordLink], str | None]:
    """Links from and to the record, oldest first (keyset pagination on created_at, id)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}", details={"field": "limit"})
    record = get_record(
        session=session, workspace_id=workspace_id, entity=entity, record_id=record_id
    )
    query = select(RecordLink).where(
        RecordLink.workspace_id == workspace_id,
        or_(RecordLink.record_id == record.id, RecordLink.target_id == record.id),
    )
    if cursor:
        after_time, after_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                RecordLink.created_at > after_time,
                and_(RecordLink.created_at == after_time, RecordLink.id > after_id),
            )
        )
    rows = list(
        session.scalars(query.order_by(RecordLink.created_at, RecordLink.id).limit(limit + 1))
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return rows[:limit], next_cursor


def delete_link(*, session: Session, workspace_id: str, link_id: str) -> RecordLink:
    begin_write(session)
    link = session.scalar(
        select(RecordLink).where(RecordLink.id == link_id, RecordLink.workspace_id == workspace_id)
    )
    if link is None:
        raise NotFoundError(f"no link {link_id!r} in this workspace")
    session.delete(link)
    session.flush()
    return link
