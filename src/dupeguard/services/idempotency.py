"""``Idempotency-Key``: a repeated POST within 60 minutes gets the stored answer.

The first request with a key claims it by inserting a *running* row (its own committed
transaction, guarded by a unique constraint); a concurrent request with the same key waits for
that row to finish and then replays its answer, so the work runs once. The same key with a
different body is :class:`IdempotencyConflict`. Only successful answers are stored: a failed
request releases its key, so the client can fix the cause (e.g. add credits) and retry.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import ConflictError, IdempotencyConflict, ValidationError
from ..store.session import session_scope
from ..store.tables import IdempotencyRecord, utcnow

__all__ = ["Claim", "Replay", "begin", "finish", "release", "request_hash"]

TTL = timedelta(minutes=60)
STALE = timedelta(minutes=10)  # a running claim older than this belonged to a crashed worker
WAIT = 120.0


@dataclass(frozen=True)
class Claim:
    id: str


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(key: str) -> str:
    try:
        return str(uuid.UUID(key.strip()))
    except (ValueError, AttributeError):
        raise ValidationError(
            "Idempotency-Key must be a UUID", details={"field": "Idempotency-Key"}
        ) from None


def begin(
    *, sessions: sessionmaker[Session], workspace_id: str, key: str, fingerprint: str
) -> Claim | Replay:
    """Claim ``key`` for this request, or return the stored answer of an earlier one."""
    key = _check_key(key)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with session_scope(sessions) as session:
                row = IdempotencyRecord(
                    workspace_id=workspace_id,
                    key=key,
                    request_hash=fingerprint,
                    state="running",
                    expires_at=utcnow() + TTL,
                )
                session.add(row)
                session.flush()
                return Claim(row.id)
        except IntegrityError:
            pass
        with session_scope(sessions) as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key
                )
            )
            if existing is None:
                continue  # released meanwhile: claim again
            now = utcnow()
            expired = existing.expires_at <= now
            stale = existing.state == "running" and existing.created_at + STALE <= now
            if expired or stale:
                session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.id == existing.id)
                )
                continue
            if existing.request_hash != fingerprint:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used with a different request",
                    details={"field": "Idempotency-Key"},
                )
            if existing.state == "done" and existing.response is not None:
                return Replay(int(existing.status_code or 200), dict(existing.response))
        if time.monotonic() > deadline:
            raise ConflictError("a request with this Idempotency-Key is still running; retry later")
        time.sleep(0.05)


def finish(
    *, sessions: sessionmaker[Session], claim: Claim, status_code: int, body: dict[str, Any]
) -> None:
    with session_scope(sessions) as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claim.id)
            .values(state="done", status_code=status_code, response=body)
        )


def release(*, sessions: sessionmaker[Session], claim: Claim) -> None:
    with session_scope(sessions) as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.id))
