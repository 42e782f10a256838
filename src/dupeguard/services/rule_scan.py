"""A duplicate job by matching rule: every pair of an entity's live records the rule matches.

Candidates are the pairs sharing a value of one of the rule's blocking keys (``record_keys``,
kept by :func:`dupeguard.services.rules.sync_blocks`); values held by more than
:data:`~dupeguard.services.rule_check.MAX_BLOCK` records are too coarse and skipped, as at save
time. Pairs are de-duplicated across keys with polars, then the rule decides each pair exactly
as it decides a save (vectorised: :mod:`dupeguard.core.rule_vectors`, property-tested equal
to the scalar path), so a job and the save-time check agree. The matched pairs are clustered
by :func:`dupeguard.services.job_sets.clusters_by_age` (a set's primary is its oldest record).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from ..core.rule_vectors import evaluate_pair_evidence, normal_columns
from ..core.rules import MatchingRule as CompiledRule
from ..store.bulk import raw_rows
from ..store.tables import Record, RecordKey
from .job_sets import PAIRS_SCHEMA
from .rule_check import MAX_BLOCK

__all__ = ["rule_pairs"]

Progress = Callable[[str, int, int], None]
_PAIRS_CHUNK = 500_000


def _candidates(
    session: Session, workspace_id: str, entity_id: str, rule: CompiledRule, progress: Progress
) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    deleted = list(
        session.scalars(
            select(Record.id).where(Record.entity_id == entity_id, Record.deleted_at.is_not(None))
        )
    )
    for done, key in enumerate(rule.blocks):
        progress("block", done, len(rule.blocks))
        # no join on records (a lookup per key row): the few deleted ids are dropped below
        rows = raw_rows(
            session,
            select(RecordKey.value, RecordKey.record_id).where(
                RecordKey.workspace_id == workspace_id,
                RecordKey.entity_id == entity_id,
                RecordKey.key == key.name,
            ),
        )
        if not rows:
            continue
        values, ids = zip(*rows, strict=True)
        held = pl.DataFrame(
            {"value": list(values), "id": list(ids)}, schema={"value": pl.String, "id": pl.String}
        )
        if deleted:
            held = held.filter(~pl.col("id").is_in(deleted))
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


def _records(
    session: Session, entity_id: str, rule: CompiledRule, encrypted: tuple[str, ...]
) -> pl.DataFrame:
    """Id, creation time and the rule's fields of every live record of the entity: one scan,
    the JSON values picked out by polars (no per-record decoding in Python). Rules never use
    encrypted fields (refused when the rule is saved)."""
    # creation times as text (all UTC, so they sort as the times do): no per-row datetime;
    # the DB-API rows as they come (no SQLAlchemy row objects for a million records)
    rows = raw_rows(
        session,
        select(Record.id, cast(Record.data, Text), cast(Record.created_at, Text)).where(
            Record.entity_id == entity_id, Record.deleted_at.is_(None)
        ),
    )
    ids, data, created = zip(*rows, strict=True) if rows else ((), (), ())
    fields = sorted({c.field for c in rule.conditions} - set(encrypted))
    frame = pl.DataFrame(
        {"id": list(ids), "data": list(data), "created_at": list(created)},
        schema={"id": pl.String, "data": pl.String, "created_at": pl.String},
    )
    # one JSON parse per record, only the rule's fields, as text (numbers too)
    shape = pl.Struct({name: pl.String for name in fields})
    return frame.select(
        "id", "created_at", pl.col("data").str.json_decode(shape).alias("v")
    ).unnest("v")


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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The pairs the rule matches (:data:`~dupeguard.services.job_sets.PAIRS_SCHEMA`:
    ``primary_id`` the older record, ``duplicate_id``, ``similarity``, ``matched_fields``,
    ``reason``) and the creation time of each record in them (``id``, ``created_at``)."""
    candidates = _candidates(session, workspace_id, entity_id, rule, progress)
    progress("loading", 0, 1)
    records = _records(session, entity_id, rule, encrypted)
    # only the records some candidate pair holds are normalised
    held = pl.concat([candidates["a"], candidates["b"]]).unique()
    records = records.filter(pl.col("id").is_in(held))
    ids = records["id"].to_numpy().astype(object)
    created = records.select("id", "created_at")
    progress("normalise", 0, 1)
    values = {c.field: records[c.field].to_list() for c in rule.conditions}
    columns, blank = normal_columns(rule, values, region)
    del records, values
    numbers = pl.DataFrame(
        {"id": ids, "n": np.arange(len(ids))}, schema={"id": pl.String, "n": pl.Int64}
    )
    indexed = candidates.join(numbers.rename({"id": "a", "n": "left"}), on="a").join(
        numbers.rename({"id": "b", "n": "right"}), on="b"
    )
    if refused:
        marked = pl.DataFrame(
            [(min(x, y), max(x, y)) for x, y in refused], schema=["a", "b"], orient="row"
        )
        indexed = indexed.join(marked, on=["a", "b"], how="anti")
    left = indexed["left"].to_numpy()
    right = indexed["right"].to_numpy()
    del indexed
    found: list[pl.DataFrame] = []
    total = len(left)
    weights = 1 << np.arange(len(rule.conditions), dtype=np.int64)
    for start in range(0, total, _PAIRS_CHUNK):
        progress("compare", start, total)
        lo, hi = left[start : start + _PAIRS_CHUNK], right[start : start + _PAIRS_CHUNK]
        hit, agreed, mean = evaluate_pair_evidence(rule, columns, blank, lo, hi)
        found.append(
            pl.DataFrame(
                {
                    "a": ids[lo[hit]],
                    "b": ids[hi[hit]],
                    "similarity": mean,
                    "pattern": weights @ agreed.astype(np.int64),
                },
                schema={
                    "a": pl.String,
                    "b": pl.String,
                    "similarity": pl.Float64,
                    "pattern": pl.Int64,
                },
            )
        )
    progress("compare", total, total)
    if not found:
        return pl.DataFrame(schema=PAIRS_SCHEMA), created.clear()
    matched = pl.concat(found)
    evidence = _evidence(rule, matched["pattern"].unique().to_list())
    ages = created.rename({"id": "a", "created_at": "ca"})
    matched = matched.join(ages, on="a").join(ages.rename({"a": "b", "ca": "cb"}), on="b")
    older = (pl.col("ca") < pl.col("cb")) | (
        (pl.col("ca") == pl.col("cb")) & (pl.col("a") < pl.col("b"))
    )
    pairs = matched.join(evidence, on="pattern", how="left").select(
        pl.when(older).then("a").otherwise("b").alias("primary_id"),
        pl.when(older).then("b").otherwise("a").alias("duplicate_id"),
        pl.col("similarity").round(6),
        "matched_fields",
        "reason",
    )
    return pairs, created


def _evidence(rule: CompiledRule, patterns: list[int]) -> pl.DataFrame:
    """For each bit pattern of held conditions: the fields that agreed and the reason."""
    names = [c.field for c in rule.conditions]
    fields = [
        list(dict.fromkeys(n for i, n in enumerate(names) if pattern >> i & 1))
        for pattern in patterns
    ]
    return pl.DataFrame(
        {
            "pattern": patterns,
            "matched_fields": fields,
            "reason": [f"matching rule {rule.name}: {', '.join(f)}"[:500] for f in fields],
        },
        schema={"pattern": pl.Int64, "matched_fields": pl.List(pl.String), "reason": pl.String},
    )
