"""Workspaces: creation with the built-in entities and an opening credit grant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.errors import NotFoundError, ValidationError
from ..core.fields import ENTITIES, Kind
from ..store.tables import CreditEntry, Entity, Field, Workspace
from .rules import ensure_standard_rules

__all__ = ["create_workspace", "get_workspace"]


def create_workspace(*, session: Session, name: str, credits: int = 0) -> Workspace:
    """A workspace with the built-in entities (contact, company, deal, lead), their fields and
    the standard duplicate rules."""
    name = name.strip()
    if not name:
        raise ValidationError("a workspace needs a name", details={"field": "name"})
    if len(name) > 200:
        raise ValidationError(
            "a workspace name has at most 200 characters", details={"field": "name"}
        )
    if credits < 0:
        raise ValidationError("credits cannot be negative", details={"field": "credits"})
    workspace = Workspace(name=name, credits=credits)
    session.add(workspace)
    session.flush()
    for entity_name, specs in ENTITIES.items():
        entity = Entity(
            workspace_id=workspace.id, name=entity_name, label=entity_name.title(), builtin=True
        )
        session.add(entity)
        session.flush()
        for spec in specs:
            if spec.kind is Kind.CREATED:
                continue
            session.add(
                Field(
                    workspace_id=workspace.id,
                    entity_id=entity.id,
                    name=spec.name,
                    label=spec.name.replace("_", " ").capitalize(),
                    type=spec.type.value,
                    builtin=True,
                )
            )
    session.flush()
    ensure_standard_rules(session, workspace_id=workspace.id)
    if credits:
        session.add(
            CreditEntry(
                workspace_id=workspace.id, delta=credits, balance_after=credits, reason="grant"
            )
        )
    session.flush()
    return workspace


def get_workspace(*, session: Session, workspace_id: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.id == workspace_id))
    if workspace is None:
        raise NotFoundError(f"no workspace {workspace_id!r}")
    return workspace
