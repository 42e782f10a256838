"""``POST /v1/ai/detect-duplicates`` (seed 000): scan an entity's stored records for duplicates.

The stored records are read into a columnar frame and handed to the same engine as
``dupeguard scan``. A scan costs 3, 5 or 10 credits by workspace size; the balance is checked
before the scan (so an empty purse answers at once) and charged atomically after it succeeds,
so a failed scan costs nothing and two concurrent scans cannot overdraw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from ..core.errors import InsufficientCredits, ValidationError
from ..core.fields import FieldSpec
from ..engine.scan import scan
from ..engine.schema import fields_from_definitions
from ..store.tables import Field, Record
from .credits import balance, charge, scan_cost, workspace_size
from .records import RecordFilter, filtered_records

__all__ = ["ENTITY_TYPES", "DetectResult", "detect_duplicates", "load_frame"]

ENTITY_TYPES = ("contact", "company", "deal")


@dataclass(frozen=True)
class DetectResult:
    pairs: list[dict[str, Any]]
    total_candidates: int
    credits_remaining: int


def load_frame(
    *, session: Session, workspace_id: str, entity: str, scope: RecordFilter
) -> tuple[pl.DataFrame, list[FieldSpec]]:
    """The entity's records in scope as a frame of strings (``id``, ``created_at``, fields)."""
    target, query = filtered_records(
        session=session, workspace_id=workspace_id, entity=entity, scope=scope
    )
    rows = session.execute(
        query.with_only_columns(Record.id, Record.created_at, cast(Record.data, String)).order_by(
            Record.id
        )
    ).all()
    ids = [r[0] for r in rows]
    created = [r[1].isoformat() for r in rows]
    frame = pl.DataFrame(
        {"id": ids, "created_at": created}, schema={"id": pl.String, "created_at": pl.String}
    )
    if rows:
        data = pl.Series("data", [r[2] for r in rows], dtype=pl.String).str.json_decode(
            infer_schema_length=None
        )
        if isinstance(data.dtype, pl.Struct) and data.dtype.fields:
            values = data.struct.unnest()
            values = values.select(
                [
                    (
                        pl.col(c).cast(pl.List(pl.String)).list.join(";")
                        if isinstance(values.schema[c], pl.List)
                        else pl.col(c).cast(pl.String)
                    ).alias(c)
                    for c in values.columns
                    if c not in ("id", "created_at")
                ]
            )
            frame = pl.concat([frame, values], how="horizontal")
    definitions = [
        (name, ftype)
        for name, ftype in session.execute(
            select(Field.name, Field.type).where(
                Field.entity_id == target.id, Field.encrypted.is_(False)
            )
        )
    ]
    specs = fields_from_definitions(frame.columns, entity, definitions)
    return frame, specs


def detect_duplicates(
    *,
    session: Session,
    workspace_id: str,
    entity_type: str,
    threshold: float,
    limit: int,
    scope: RecordFilter,
    request_id: str | None = None,
) -> DetectResult:
    if entity_type not in ENTITY_TYPES:
        raise ValidationError(
            f"entity_type: one of {', '.join(ENTITY_TYPES)}", details={"field": "entity_type"}
        )
    cost = scan_cost(workspace_size(session=session, workspace_id=workspace_id))
    have = balance(session=session, workspace_id=workspace_id)
    if have < cost:
        raise InsufficientCredits(
            f"this scan costs {cost} credits and the workspace has {have}",
            details={"required": cost, "balance": have},
        )
    frame, specs = load_frame(
        session=session, workspace_id=workspace_id, entity=entity_type, scope=scope
    )
    pairs: list[dict[str, Any]] = []
    if frame.height >= 2 and any(s.comparable for s in specs):
        result = scan(frame, specs, entity=entity_type, threshold=threshold, limit=limit)
        pairs = [
            {
                "primary_id": row["primary_id"],
                "duplicate_id": row["duplicate_id"],
                "similarity": round(float(row["similarity"]), 4),
                "matched_fields": list(row["matched_fields"]),
                "reason": row["reason"],
            }
            for row in result.pairs.iter_rows(named=True)
        ]
    remaining = charge(
        session=session,
        workspace_id=workspace_id,
        amount=cost,
        reason=f"detect-duplicates {entity_type}",
        request_id=request_id,
    )
    return DetectResult(pairs=pairs, total_candidates=frame.height, credits_remaining=remaining)
