"""What a duplicate rule's hit leaves behind: an audit entry per rule, and (``report``) a
duplicate record set holding the saved record and its matches.

Audit kinds: ``duplicate_alert`` (allowed), ``duplicate_blocked``, ``duplicate_override``
(a block lifted by ``allowSave``). Each entry has the source, the inbound values (encrypted
fields redacted, long values cut), the matched ids, the rule, its action and the actor; the
per-rule statistics are a group-by over them (:func:`dupeguard.services.rules.rule_stats`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..store.tables import (
    AuditEntry,
    DuplicatePair,
    DuplicateRecordSet,
    DuplicateSetMember,
    new_id,
    utcnow,
)
from .rule_check import Fired, Verdict

__all__ = ["KINDS", "record"]

KINDS = {
    "alert": "duplicate_alert",
    "blocked": "duplicate_blocked",
    "override": "duplicate_override",
}
_MAX_VALUE = 500

Item = tuple[str | None, Verdict, Mapping[str, Any]]


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_VALUE:
        return value[:_MAX_VALUE] + "…"
    return value


def record(
    session: Session,
    *,
    workspace_id: str,
    entity: str,
    entity_id: str,
    items: Sequence[Item],
    source: str,
    actor: str | None,
) -> None:
    """Audit and report the rule hits of saved (``record_id`` set) or blocked rows."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for record_id, verdict, inbound in items:
        for fired in verdict.fired:
            rows.append(
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "kind": KINDS[fired.action],
                    "entity": entity,
                    "source": source,
                    "record_id": record_id,
                    "matched_ids": [m.record_id for m in fired.matches],
                    "rule_id": fired.rule.id,
                    "rule_name": fired.rule.name,
                    "action": "block" if fired.action != "alert" else "allow",
                    "actor": actor,
                    "override": fired.action == "override",
                    "details": {
                        "matches": [m.payload() for m in fired.matches],
                        "inbound": {k: _short(v) for k, v in inbound.items()},
                        "deleted_matches": [m.record_id for m in verdict.deleted],
                    },
                    "request_id": None,
                    "created_at": now,
                }
            )
            if fired.rule.report and record_id is not None and fired.action != "blocked":
                _report(session, workspace_id, entity_id, record_id, fired, now)
    if rows:
        session.execute(insert(AuditEntry), rows)


def _report(
    session: Session, workspace_id: str, entity_id: str, record_id: str, fired: Fired, now: Any
) -> None:
    """Add the saved record and its matches to the rule's open set holding one of them, or
    open a new set (source ``rule``)."""
    matched = [m.record_id for m in fired.matches]
    existing = session.scalar(
        select(DuplicateRecordSet)
        .join(DuplicateSetMember, DuplicateSetMember.set_id == DuplicateRecordSet.id)
        .where(
            DuplicateRecordSet.workspace_id == workspace_id,
            DuplicateRecordSet.rule_id == fired.rule.id,
            DuplicateRecordSet.status == "open",
            DuplicateSetMember.record_id.in_([record_id, *matched]),
        )
        .limit(1)
    )
    best = max(m.similarity for m in fired.matches)
    if existing is None:
        existing = DuplicateRecordSet(
            id=new_id(),
            workspace_id=workspace_id,
            entity_id=entity_id,
            source="rule",
            rule_id=fired.rule.id,
            status="open",
            size=0,
            max_similarity=0.0,
            created_at=now,
        )
        session.add(existing)
        session.flush()
    members = set(
        session.scalars(
            select(DuplicateSetMember.record_id).where(DuplicateSetMember.set_id == existing.id)
        )
    )
    score = {m.record_id: m.similarity for m in fired.matches}
    score[record_id] = best
    # the oldest matched record is the primary of a new set
    new_members = [r for r in [*matched, record_id] if r not in members]
    if new_members:
        session.execute(
            insert(DuplicateSetMember),
            [
                {
                    "set_id": existing.id,
                    "record_id": r,
                    "score": round(score[r], 6),
                    "is_primary": not members and r == matched[0],
                }
                for r in new_members
            ],
        )
    session.execute(
        insert(DuplicatePair),
        [
            {
                "id": new_id(),
                "workspace_id": workspace_id,
                "set_id": existing.id,
                "primary_id": m.record_id,
                "duplicate_id": record_id,
                "similarity": round(m.similarity, 6),
                "matched_fields": list(m.matched_fields),
                "reason": f"duplicate rule {fired.rule.name}: {', '.join(m.matched_fields)}"[:500],
            }
            for m in fired.matches
        ],
    )
    existing.size = len(members) + len(new_members)
    existing.max_similarity = max(existing.max_similarity, round(best, 6))
