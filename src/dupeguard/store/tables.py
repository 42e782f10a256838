"""SQLAlchemy 2 models. Schema changes go through Alembic migrations only (``migrations/``).

One design serves SQLite (embedded default) and PostgreSQL (production): ids are UUID strings,
timestamps are timezone-aware UTC, flexible values are JSON. Everything a workspace owns
carries ``workspace_id`` so that every query can (and must) be scoped to one tenant.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Activity",
    "ApiKey",
    "AuditEntry",
    "Base",
    "CreditEntry",
    "DuplicateJob",
    "DuplicatePair",
    "DuplicateRecordSet",
    "DuplicateSetMember",
    "Entity",
    "Field",
    "Form",
    "FormSubmission",
    "IdempotencyRecord",
    "Import",
    "ImportRow",
    "List",
    "ListMember",
    "Merge",
    "NotDuplicate",
    "Record",
    "RecordKey",
    "RecordLink",
    "RecordTag",
    "UiSession",
    "User",
    "Webhook",
    "WebhookDelivery",
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
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Ids made
    later sort later, so the rows of a big write land at the end of their indexes instead of
    at random pages (a million-row import or job writes several times faster on SQLite)."""
    stamp = time.time_ns() // 1_000_000
    bits = (stamp & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    bits = (bits & ~(0xF << 76)) | (0x7 << 76)  # version 7
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=bits))


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
    #: names of the matching rules' blocking keys whose values ``record_keys`` holds for
    #: this entity's records (kept in step with the rules by ``services.rules.sync_blocks``)
    block_keys: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
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


class RecordKey(Base):
    """A record's normalised match-key value (seed 001), so intake is an index lookup.

    One row per record and match-key field, written with the record in the same transaction;
    long values are stored as ``sha256:<hex>``. Rows of deleted records stay (a restore needs
    them) and lookups join ``records`` to skip them.
    """

    __tablename__ = "record_keys"
    __table_args__ = (
        # record_id included: lookups and blocking scans read the index alone (covering)
        Index("ix_record_keys_lookup", "workspace_id", "entity_id", "key", "value", "record_id"),
    )

    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(36), nullable=False)
    value: Mapped[str] = mapped_column(String(200), nullable=False)


class Activity(Base):
    """A record's activity feed: created, updated (old and new values), deleted, restored…"""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_record", "record_id", "created_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()


class Webhook(Base):
    """Where automation events (``record.created``) are delivered, signed with ``secret``."""

    __tablename__ = "webhooks"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    secret: Mapped[str] = mapped_column(String(500), nullable=False)
    """The signing secret: ``whsec_…`` as it is, or sealed (``enc:v1:…``) when
    ``DUPEGUARD_ENCRYPTION_KEY`` is set (services/crypto.py)."""
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written in the transaction that caused it and
    delivered (with retries) after it commits."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    webhook_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Import(Base):
    """A CSV import: the uploaded file, its mapping and action, progress and counts."""

    __tablename__ = "imports"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    columns: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    dedup_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="skip")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="uploaded")
    processed_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRow(Base):
    """One row's outcome, written in the same transaction as the row's record (exact reports,
    exact resume)."""

    __tablename__ = "import_rows"

    import_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    record_id: Mapped[str | None] = mapped_column(String(36))
    matches: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    matched_by: Mapped[str | None] = mapped_column(String(64))
    changed_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(String(1000))


class Form(Base):
    """A web form feeding an entity: its inputs map to fields; it picks its own action."""

    __tablename__ = "forms"

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    dedup_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="skip")
    token_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    thank_you: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created()


class FormSubmission(Base):
    """A public submission's outcome (a conflict writes no record, so it is kept here)."""

    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_form", "form_id", "created_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    form_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("forms.id", ondelete="CASCADE"), nullable=False
    )
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    record_id: Mapped[str | None] = mapped_column(String(36))
    matches: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    matched_by: Mapped[str | None] = mapped_column(String(64))
    changed_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = _created()


class RecordLink(Base):
    """A relation between two records of a workspace (a deal's contact, a contact's company):
    ``record_id`` points at ``target_id``. A merge moves links to the survivor."""

    __tablename__ = "record_links"
    __table_args__ = (
        UniqueConstraint("record_id", "target_id", "label"),
        Index("ix_record_links_target", "target_id"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    )
    target_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    )
    label: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = _created()


class MatchingRule(Base):
    """What makes two records the same (seed 002): conditions joined by an expression.

    ``against_entity_id`` set: the rule compares this entity's records with another's (a
    lead against contacts)."""

    __tablename__ = "matching_rules"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    against_entity_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    expression: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    standard: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class DuplicateRule(Base):
    """What to do when matching rules find an existing record on a save (seed 002)."""

    __tablename__ = "duplicate_rules"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    matching_rule_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    action_on_create: Mapped[str] = mapped_column(String(16), nullable=False, default="allow")
    action_on_edit: Mapped[str] = mapped_column(String(16), nullable=False, default="allow")
    report: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    include_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    standard: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class DuplicateJob(Base):
    """A scan of an entity's stored records for duplicates, run in the background."""

    __tablename__ = "duplicate_jobs"
    __table_args__ = (Index("ix_duplicate_jobs_listing", "workspace_id", "created_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    method: Mapped[str] = mapped_column(String(16), nullable=False, default="model")
    threshold: Mapped[float | None] = mapped_column(Float)
    matching_rule_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    stage: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    records_scanned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_found: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sets_found: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(String(1000))
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DuplicateRecordSet(Base):
    """A cluster of records judged the same entity (from a job, or reported by a rule)."""

    __tablename__ = "duplicate_record_sets"
    __table_args__ = (
        Index("ix_duplicate_record_sets_queue", "workspace_id", "status", "max_similarity"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("duplicate_jobs.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="job")
    #: the duplicate rule that reported the set (source ``rule``)
    rule_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_similarity: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    created_at: Mapped[datetime] = _created()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DuplicateSetMember(Base):
    __tablename__ = "duplicate_set_members"
    __table_args__ = (Index("ix_duplicate_set_members_record", "record_id"),)

    set_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("duplicate_record_sets.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    is_primary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class DuplicatePair(Base):
    """A scored pair inside a set: what the reviewer sees side by side."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (Index("ix_duplicate_pairs_set", "set_id", "similarity"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(String(36), nullable=False)
    set_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("duplicate_record_sets.id", ondelete="CASCADE"), nullable=False
    )
    primary_id: Mapped[str] = mapped_column(String(36), nullable=False)
    duplicate_id: Mapped[str] = mapped_column(String(36), nullable=False)
    similarity: Mapped[float] = mapped_column(Float, nullable=False)
    matched_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class NotDuplicate(Base):
    """A reviewer's "not a duplicate" for a pair (ids in sorted order); kept across reruns."""

    __tablename__ = "not_duplicates"

    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    record_a: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_b: Mapped[str] = mapped_column(String(36), primary_key=True)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class Merge(Base):
    """A merge of up to 10 duplicates into a survivor, with the snapshot that undoes it."""

    __tablename__ = "merges"
    __table_args__ = (Index("ix_merges_listing", "workspace_id", "created_at"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    entity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    )
    primary_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    duplicate_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    choices: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """The audit log: every duplicate decision, override, merge, undo and review mark."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_listing", "workspace_id", "created_at"),
        Index("ix_audit_log_rule", "workspace_id", "rule_id", "kind"),
    )

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    entity: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(16))
    record_id: Mapped[str | None] = mapped_column(String(36))
    matched_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    rule_id: Mapped[str | None] = mapped_column(String(36))
    rule_name: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
    override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()


class User(Base):
    """A person who signs in to the web UI: e-mail unique per workspace (stored lower-case),
    an argon2 password hash (never the password) and a role, ``admin`` or ``member``."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[str] = _id()
    workspace_id: Mapped[str] = _ws()
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="member")
    created_at: Mapped[datetime] = _created()


class UiSession(Base):
    """A web UI sign-in: only the SHA-256 of the cookie's token is stored. It ends at
    ``expires_at`` (absolute), after ``idle`` without use (``last_seen_at``), or when revoked
    (logout). ``flash`` holds the messages for the next page the session shows."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    workspace_id: Mapped[str] = _ws()
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flash: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
