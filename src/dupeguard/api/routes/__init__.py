"""Routers, each thin over keyword-only services. The app includes every router in ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from .ai import router as ai
from .duplicates import router as duplicates
from .entities import router as entities
from .forms import router as forms
from .health import router as health
from .imports import router as imports
from .merges import router as merges
from .records import router as records
from .rules import router as rules
from .webhooks import router as webhooks

ROUTERS: list[APIRouter] = [
    ai,
    entities,
    rules,
    records,
    forms,
    webhooks,
    imports,
    duplicates,
    merges,
    health,
]
