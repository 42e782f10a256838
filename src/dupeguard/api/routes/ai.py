"""``POST /v1/ai/detect-duplicates`` (seed 000)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from ...services.detect import detect_duplicates
from ...services.idempotency import Claim, Replay, begin, finish, release, request_hash
from ...services.records import RecordFilter
from ...store.session import session_scope
from ...store.tables import ApiKey
from ..deps import require
from ..errors import error_responses
from ..schemas.detect import DetectRequest, DetectResponse

router = APIRouter(tags=["ai"])


@router.post(
    "/v1/ai/detect-duplicates",
    response_model=DetectResponse,
    responses=error_responses(
        "validation_error",
        "invalid_key",
        "insufficient_credits",
        "insufficient_permissions",
        "idempotency_conflict",
        "rate_limited",
    ),
    summary="Find likely duplicate contacts, companies or deals",
)
def detect(
    body: DetectRequest,
    request: Request,
    key: Annotated[ApiKey, Depends(require("write:ai"))],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="UUID; a repeat within 60 minutes replays."),
    ] = None,
) -> Any:
    sessions = request.app.state.sessions
    claim: Claim | None = None
    if idempotency_key is not None:
        fingerprint = request_hash("POST", request.url.path, body.model_dump(mode="json"))
        outcome = begin(
            sessions=sessions,
            workspace_id=key.workspace_id,
            key=idempotency_key,
            fingerprint=fingerprint,
        )
        if isinstance(outcome, Replay):
            return JSONResponse(
                outcome.body,
                status_code=outcome.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
        claim = outcome
    try:
        scope = body.scope
        with session_scope(sessions) as session:
            result = detect_duplicates(
                session=session,
                workspace_id=key.workspace_id,
                entity_type=body.entity_type,
                threshold=body.threshold,
                limit=body.limit,
                scope=RecordFilter(
                    created_after=scope.created_after if scope else None,
                    tag=scope.tag if scope else None,
                    list_id=scope.list_id if scope else None,
                ),
                request_id=getattr(request.state, "request_id", None),
            )
        payload = {
            "data": {
                "pairs": result.pairs,
                "total_candidates": result.total_candidates,
                "credits_remaining": result.credits_remaining,
            }
        }
    except BaseException:
        if claim is not None:
            release(sessions=sessions, claim=claim)
        raise
    if claim is not None:
        finish(sessions=sessions, claim=claim, status_code=200, body=payload)
    return payload
