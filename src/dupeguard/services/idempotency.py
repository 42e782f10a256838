"""``Idempotency-Key``: a repeated POST within 60 minutes gets the stored answer.

The first request with a key claims it by inserting a *running* row (its own committed
transaction, guarded by a unique constraint); a concurrent request with the same key waits for
that row to finish and then replays its answer, so the work runs once. The same key with a
different body is :class:`IdempotencyConflict`. Only successful answers are stored: a failed
request releases its key, so the client can fix the cause (e.g. add credits) and retry.

The answer is stored in the work's own transaction (:func:`record`), so a server killed at any
moment leaves either the work and its answer (a retry replays) or neither (a retry runs it).
A running claim names its owner (host, process id and start time); a waiter on the same host
whose owner process is gone takes the claim over at once, others after :data:`STALE`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ColumnElement

from ..core.errors import ConflictError, IdempotencyConflict, ValidationError
from ..store.session import session_scope
from ..store.tables import IdempotencyRecord, utcnow

__all__ = ["Claim", "Replay", "begin", "finish", "record", "release", "request_hash"]

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


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is told
    from the process that made the claim; ``None`` elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _owner_gone(owner: Any) -> bool:
    """Whether the claim's owner process is known dead: it ran on this host and its pid is
    gone, or belongs to a process started later. Unknown (another host): ``False``."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    start = owner.get("start")
    return start is not None and _start_time(pid) not in (None, start)


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
                    response={"owner": _owner()},
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
            stale = existing.state == "running" and (
                existing.created_at + STALE <= now
                or _owner_gone((existing.response or {}).get("owner"))
            )
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
    """Store the answer in a transaction of its own (prefer :func:`record`)."""
    with session_scope(sessions) as session:
        record(session=session, claim=claim, status_code=status_code, body=body)


def record(*, session: Session, claim: Claim, status_code: int, body: dict[str, Any]) -> None:
    """Store the answer in ``session``'s transaction: call it in the transaction that did the
    work, so the work and its answer commit together."""
    claimed: ColumnElement[bool] = IdempotencyRecord.id == claim.id
    session.execute(
        update(IdempotencyRecord)
        .where(claimed)
        .values(state="done", status_code=status_code, response=body)
        .execution_options(synchronize_session=False)
    )


def release(*, sessions: sessionmaker[Session], claim: Claim) -> None:
    with session_scope(sessions) as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.id))
