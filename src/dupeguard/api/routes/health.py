"""``GET /health``: for load balancers and monitoring; no key, no rate limit.

200 ``{"status": "ok", "database": "ok", "version": …}`` when a ``SELECT 1`` on the database
answers; otherwise the 503 ``database_unavailable`` envelope (from the error handlers), so a
load balancer takes a worker whose database is away out of rotation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from ... import __version__
from ...store.session import session_scope
from ..errors import error_responses

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Liveness and database reachability",
    responses=error_responses("database_unavailable"),
)
def health(request: Request) -> dict[str, Any]:
    with session_scope(request.app.state.sessions) as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok", "version": __version__}
