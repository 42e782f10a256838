"""Page routers; :func:`dupeguard.web.install` includes every router in ROUTERS.

To add a page module: ``router = page_router()`` in ``web/routes/<name>.py``, then add it here.
"""

from __future__ import annotations

from fastapi import APIRouter

from .audit import router as audit
from .dashboard import router as dashboard
from .duplicates import router as duplicates
from .entities import router as entities
from .forms import router as forms
from .imports import router as imports
from .records import router as records
from .rules import router as rules
from .session import router as session

ROUTERS: list[APIRouter] = [
    session,
    dashboard,
    records,
    entities,
    forms,
    imports,
    duplicates,
    rules,
    audit,
]
