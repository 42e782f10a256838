"""The audit log: one row per duplicate decision, override, merge, undo or review mark.

:func:`record` adds an entry in the caller's transaction, so an entry exists exactly when the
change it describes was committed. Kinds in use: ``merge``, ``undo``, ``not_duplicate``,
``duplicate_job`` and, from duplicate rules, ``duplicate_alert``, ``duplicate_blocked`` and
``duplicate_override``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ..store.tables import AuditEntry

__all__ = ["record"]


def record(
    *,
    session: Session,
    workspace_id: str,
    kind: str,
    entity: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
    matched_ids: Sequence[str] = (),
    rule_id: str | None = None,
    rule_name: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    override: bool = False,
    details: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        workspace_id=workspace_id,
        kind=kind,
        entity=entity,
        source=source,
        record_id=record_id,
        matched_ids=list(matched_ids),
        rule_id=rule_id,
        rule_name=rule_name,
        action=action,
        actor=actor,
        override=override,
        details=dict(details or {}),
        request_id=request_id,
    )
    session.add(entry)
    return entry
