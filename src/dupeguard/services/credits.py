"""Credits: what a scan costs, and an atomic charge that never takes a balance below zero."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..core.errors import InsufficientCredits
from ..store.tables import CreditEntry, Record, Workspace

__all__ = ["balance", "charge", "scan_cost", "workspace_size"]

TIERS = ((10_000, 3), (100_000, 5))
TOP_COST = 10


def scan_cost(records: int) -> int:
    """3 credits up to 10,000 records, 5 up to 100,000, 10 beyond (seed 000)."""
    for ceiling, cost in TIERS:
        if records <= ceiling:
            return cost
    return TOP_COST


def workspace_size(*, session: Session, workspace_id: str) -> int:
    """Live records in the workspace, every entity counted."""
    return int(
        session.scalar(
            select(func.count(Record.id)).where(
                Record.workspace_id == workspace_id, Record.deleted_at.is_(None)
            )
        )
        or 0
    )


def balance(*, session: Session, workspace_id: str) -> int:
    return int(session.scalar(select(Workspace.credits).where(Workspace.id == workspace_id)) or 0)


def charge(
    *, session: Session, workspace_id: str, amount: int, reason: str, request_id: str | None = None
) -> int:
    """Take ``amount`` credits in one conditional UPDATE; returns the balance after.

    Two concurrent charges cannot both pass on the last credits: the database applies the
    condition and the subtraction together. Raises :class:`InsufficientCredits` and changes
    nothing when the balance does not cover the amount.
    """
    result = session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.credits >= amount)
        .values(credits=Workspace.credits - amount)
        .returning(Workspace.credits)
    ).first()
    if result is None:
        have = balance(session=session, workspace_id=workspace_id)
        raise InsufficientCredits(
            f"this costs {amount} credits and the workspace has {have}",
            details={"required": amount, "balance": have},
        )
    after = int(result[0])
    session.add(
        CreditEntry(
            workspace_id=workspace_id,
            delta=-amount,
            balance_after=after,
            reason=reason,
            request_id=request_id,
        )
    )
    session.flush()
    return after
