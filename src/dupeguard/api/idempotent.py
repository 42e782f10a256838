"""Run a POST at most once per ``Idempotency-Key`` (services/idempotency.py does the claiming).

The work runs in its own unit of work, and the answer is stored in that same transaction, so a
replay never returns an answer whose writes were rolled back, and a server killed after the
commit leaves an answer to replay (never work that a retry would do twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ..services.idempotency import Claim, Replay, begin, record, release, request_hash
from ..store.session import session_scope

__all__ = ["IdempotencyKey", "run_idempotent"]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="UUID; a repeat within 60 minutes replays."),
]


def run_idempotent(
    request: Request,
    *,
    workspace_id: str,
    idempotency_key: str | None,
    body: Any,
    status_code: int | Callable[[dict[str, Any]], int],
    work: Callable[[Session], dict[str, Any]],
) -> JSONResponse:
    """``work(session)`` → JSON body, answered with ``status_code`` (or ``status_code(body)``);
    replayed for a repeat. ``work`` gets a fresh session, so it may start a write transaction
    (intake's ``begin_write``)."""
    sessions = request.app.state.sessions
    claim: Claim | None = None
    if idempotency_key is not None:
        outcome = begin(
            sessions=sessions,
            workspace_id=workspace_id,
            key=idempotency_key,
            fingerprint=request_hash(request.method, request.url.path, body),
        )
        if isinstance(outcome, Replay):
            return JSONResponse(
                outcome.body,
                status_code=outcome.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
        claim = outcome
    try:
        with session_scope(sessions) as session:
            payload = work(session)
            status = status_code(payload) if callable(status_code) else status_code
            if claim is not None:
                record(session=session, claim=claim, status_code=status, body=payload)
    except BaseException:
        if claim is not None:
            release(sessions=sessions, claim=claim)
        raise
    return JSONResponse(payload, status_code=status)
