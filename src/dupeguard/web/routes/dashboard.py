"""The dashboard: records per entity, open duplicate record sets, credit balance."""

from __future__ import annotations

from fastapi import Request, Response

from ...api.deps import SessionDep
from ...services.browse import overview
from ..auth import ViewerDep
from ..pages import page_router, render

router = page_router()


@router.get("/")
def dashboard(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    summary = overview(session=session, workspace_id=viewer.workspace_id)
    return render(request, "dashboard.html", {"summary": summary})
