"""Routers, each thin over keyword-only services. The app includes every router in ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from .ai import router as ai
from .records import router as records

ROUTERS: list[APIRouter] = [ai, records]
