"""SQLAlchemy 2 models. Schema changes go through Alembic migrations only (``migrations/``).

One design serves SQLite (embedded default) and PostgreSQL (production): ids are UUID strings,
timestamps are timezone-aware UTC, flexible values are JSON. Everything a workspace owns
carries ``workspace_id`` so that every query can (and must) be scoped to one tenant.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiKey",
    "Base",
    "CreditEntry",
    "Entity",
    "Field",
    "IdempotencyRecord",
    "List",
    "ListMember",
    "Record",
    "RecordTag",
    "Workspace",
    "new_id",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back time-zone aware.

    SQLite keeps no time zone, so without this every reader would have to guess; with it,
    both databases hand back aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _ws() -> Mapped[str]:
    return mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    credits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """An API key: only its SHA-256 hash is stored; ``prefix`` identifies it in lists and logs."""

    __tablename__ = "api_keys"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Entity(Base):
    """A record type: built-in contact, company, deal, lead, or a custom one."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = _created()


class Field(Base):
    """A typed attribute of an entity; ``match_key_priority`` orders the match keys (seed 001)."""

    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    encrypted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    match_key: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    match_key_priority: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()


class Record(Base):
    """A contact, company, deal, lead or custom record: its field values live in ``data``."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_listing", "workspace_id", "entity_id", "deleted_at", "created_at"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class RecordTag(Base):
    __tablename__ = "record_tags"
    __table_args__ = (Index("ix_record_tags_lookup", "workspace_id", "tag", "record_id"),)

    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    workspace_id: Mapped[str] = _ws()


class List(Base):
    """A static list of records (list memberships filter scans and listings)."""

    __tablename__ = "lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = _created()


class ListMember(Base):
    __tablename__ = "list_members"
    __table_args__ = (Index("ix_list_members_record", "record_id"),)

    list_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = _ws()


class CreditEntry(Base):
    """The credit ledger: every grant and charge, with the balance after it."""

    __tablename__ = "credit_ledger"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()


class IdempotencyRecord(Base):
    """A POST's stored answer for 60 minutes, keyed by the client's ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
