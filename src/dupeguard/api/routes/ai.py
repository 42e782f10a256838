"""``POST /v1/ai/detect-duplicates`` (seed 000)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ...services.detect import detect_duplicates
from ...services.records import RecordFilter
from ...store.tables import ApiKey
from ..deps import require
from ..errors import error_responses
from ..idempotent import IdempotencyKey, run_idempotent
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
    idempotency_key: IdempotencyKey = None,
) -> Any:
    scope = body.scope

    def work(session: Session) -> dict[str, Any]:
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
        return {
            "data": {
                "pairs": result.pairs,
                "total_candidates": result.total_candidates,
                "credits_remaining": result.credits_remaining,
            }
        }

    return run_idempotent(
        request,
        workspace_id=key.workspace_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        status_code=200,
        work=work,
    )
