"""A duplicate job by matching rule: every pair of an entity's live records the rule matches.

Candidates are the pairs sharing a value of one of the rule's blocking keys (``record_keys``,
kept by :func:`dupeguard.services.rules.sync_blocks`); values held by more than
:data:`~dupeguard.services.rule_check.MAX_BLOCK` records are too coarse and skipped, as at save
time. Pairs are de-duplicated across keys with polars, then the rule decides each pair exactly
as it decides a save, so a job and the save-time check agree. Matched pairs are clustered
(connected components); a set's primary is its oldest record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.cluster import components, primary_flags
from ..core.rules import MatchingRule as CompiledRule
from ..store.tables import Record, RecordKey
from . import crypto
from .rule_check import MAX_BLOCK

__all__ = ["rule_pairs", "sets_of"]

Progress = Callable[[str, int, int], None]
_CHUNK = 5_000
_REPORT_EVERY = 20_000


def _candidates(
    session: Session, workspace_id: str, entity_id: str, rule: CompiledRule, progress: Progress
) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    for done, key in enumerate(rule.blocks):
        progress("block", done, len(rule.blocks))
        rows = session.execute(
            select(RecordKey.value, RecordKey.record_id)
            .join(Record, Record.id == RecordKey.record_id)
            .where(
                RecordKey.workspace_id == workspace_id,
                RecordKey.entity_id == entity_id,
                RecordKey.key == key.name,
                Record.deleted_at.is_(None),
            )
        ).all()
        if not rows:
            continue
        held = pl.DataFrame(rows, schema={"value": pl.String, "id": pl.String}, orient="row")
        sizes = held.group_by("value").len()
        held = held.join(
            sizes.filter((pl.col("len") >= 2) & (pl.col("len") <= MAX_BLOCK)), on="value"
        ).select("value", "id")
        pairs = (
            held.join(held, on="value", suffix="_r")
            .filter(pl.col("id") < pl.col("id_r"))
            .select(pl.col("id").alias("a"), pl.col("id_r").alias("b"))
        )
        frames.append(pairs)
    progress("block", len(rule.blocks), len(rule.blocks))
    if not frames:
        return pl.DataFrame(schema={"a": pl.String, "b": pl.String})
    return pl.concat(frames).unique()


def rule_pairs(
    session: Session,
    *,
    workspace_id: str,
    entity_id: str,
    rule: CompiledRule,
    encrypted: tuple[str, ...],
    region: str,
    refused: set[tuple[str, str]],
    progress: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pairs the rule matches (``primary_id`` the older record, ``duplicate_id``,
    ``similarity``, ``matched_fields``, ``reason``) and the creation time of each record in
    them."""
    candidates = _candidates(session, workspace_id, entity_id, rule, progress)
    ids = sorted(set(candidates["a"].to_list()) | set(candidates["b"].to_list()))
    data: dict[str, dict[str, Any]] = {}
    created: dict[str, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        progress("loading", start, len(ids))
        for record_id, values, created_at in session.execute(
            select(Record.id, Record.data, Record.created_at).where(
                Record.id.in_(ids[start : start + _CHUNK])
            )
        ):
            data[record_id] = crypto.unseal(values, encrypted) if encrypted else values
            created[record_id] = created_at
    pairs: list[dict[str, Any]] = []
    total = candidates.height
    for done, (a, b) in enumerate(candidates.iter_rows()):
        if done % _REPORT_EVERY == 0:
            progress("compare", done, total)
        if (a, b) in refused or a not in data or b not in data:
            continue
        hit, fields, similarity = rule.evaluate(data[a], data[b], region)
        if not hit:
            continue
        older, newer = sorted((a, b), key=lambda r: (created[r], r))
        pairs.append(
            {
                "primary_id": older,
                "duplicate_id": newer,
                "similarity": round(similarity, 6),
                "matched_fields": list(fields),
                "reason": f"matching rule {rule.name}: {', '.join(fields)}"[:500],
            }
        )
    progress("compare", total, total)
    return pairs, created


def sets_of(
    pairs: list[dict[str, Any]], created: dict[str, Any]
) -> list[tuple[float, list[tuple[str, float, bool]], list[dict[str, Any]]]]:
    """Clusters of matched pairs: (max similarity, members (id, score, is_primary), pairs)."""
    if not pairs:
        return []
    ids = sorted({p["primary_id"] for p in pairs} | {p["duplicate_id"] for p in pairs})
    index = {r: i for i, r in enumerate(ids)}
    left = np.array([index[p["primary_id"]] for p in pairs], dtype=np.int64)
    right = np.array([index[p["duplicate_id"]] for p in pairs], dtype=np.int64)
    labels = components(left, right, len(ids))
    order = sorted(range(len(ids)), key=lambda i: (created[ids[i]], ids[i]))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    flags = primary_flags(labels, rank)
    best: dict[str, float] = {}
    by_label: dict[int, list[dict[str, Any]]] = {}
    for p, label in zip(pairs, labels[left], strict=True):
        by_label.setdefault(int(label), []).append(p)
        for r in (p["primary_id"], p["duplicate_id"]):
            best[r] = max(best.get(r, 0.0), p["similarity"])
    members: dict[int, list[tuple[str, float, bool]]] = {}
    for i, r in enumerate(ids):
        members.setdefault(int(labels[i]), []).append((r, best[r], bool(flags[i])))
    return [
        (max(p["similarity"] for p in by_label[label]), members[label], by_label[label])
        for label in sorted(by_label)
    ]
