"""Routers, each thin over keyword-only services. The app includes every router in ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from .ai import router as ai
from .entities import router as entities
from .records import router as records

ROUTERS: list[APIRouter] = [ai, entities, records]
