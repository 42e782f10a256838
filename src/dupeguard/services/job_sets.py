"""A duplicate job's findings as frames, and how they are written.

Both kinds of job (by model threshold, by matching rule) end with the same two frames:

* ``pairs``: ``primary_id``, ``duplicate_id``, ``similarity``, ``matched_fields`` (list of
  field names), ``reason`` — the matched pairs, "not a duplicate" marks already dropped;
* ``clusters``: ``record_id``, ``cluster_id``, ``is_primary`` — the connected components of
  those pairs and each one's primary record.

:func:`sets_from` turns them into the rows of duplicate record sets, their members (a member's
score is its best pair's similarity) and pairs, without a Python loop per pair; :func:`write`
inserts them with :func:`dupeguard.store.bulk.insert_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from ..core.cluster import components, primary_flags
from ..store.bulk import insert_frame, json_texts, new_ids
from ..store.tables import DuplicatePair, DuplicateRecordSet, DuplicateSetMember

__all__ = ["CLUSTERS_SCHEMA", "PAIRS_SCHEMA", "Found", "clusters_by_age", "sets_from", "write"]

PAIRS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "primary_id": pl.String,
    "duplicate_id": pl.String,
    "similarity": pl.Float64,
    "matched_fields": pl.List(pl.String),
    "reason": pl.String,
}
CLUSTERS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "record_id": pl.String,
    "cluster_id": pl.Int64,
    "is_primary": pl.Boolean,
}


@dataclass
class Found:
    """Sets (``cluster_id``, ``size``, ``max_similarity``), their ``members`` (``cluster_id``,
    ``record_id``, ``score``, ``is_primary``) and ``pairs`` (``cluster_id`` and the pair
    columns), one row each."""

    sets: pl.DataFrame
    members: pl.DataFrame
    pairs: pl.DataFrame

    @property
    def counts(self) -> tuple[int, int]:
        return self.sets.height, self.pairs.height


def clusters_by_age(pairs: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """Connected components of ``pairs``; a set's primary is its oldest record (then the
    smallest id). ``created``: ``id`` and a sortable ``created_at`` of every record in a pair."""
    if pairs.height == 0:
        return pl.DataFrame(schema=CLUSTERS_SCHEMA)
    ids = (
        pl.concat([pairs["primary_id"], pairs["duplicate_id"]])
        .unique()
        .to_frame("id")
        .join(created, on="id", how="left")
        .sort("created_at", "id", nulls_last=True)
        .with_row_index("rank")
    )
    numbers = ids.select("id", pl.col("rank").cast(pl.Int64))
    indexed = pairs.select("primary_id", "duplicate_id").join(
        numbers.rename({"id": "primary_id", "rank": "a"}), on="primary_id"
    )
    indexed = indexed.join(numbers.rename({"id": "duplicate_id", "rank": "b"}), on="duplicate_id")
    n = ids.height
    labels = components(indexed["a"].to_numpy(), indexed["b"].to_numpy(), n)
    flags = primary_flags(labels, np.arange(n))
    return pl.DataFrame(
        {"record_id": ids["id"], "cluster_id": labels, "is_primary": flags}, schema=CLUSTERS_SCHEMA
    )


def sets_from(pairs: pl.DataFrame, clusters: pl.DataFrame) -> Found:
    """The sets of ``clusters`` that hold at least one of ``pairs``, with their members and
    pairs. Similarities are rounded to 6 places and reasons cut to 500 characters, as
    stored."""
    pairs = pairs.with_columns(
        pl.col("similarity").round(6), pl.col("reason").fill_null("").str.slice(0, 500)
    ).join(
        clusters.select(pl.col("record_id").alias("primary_id"), "cluster_id"),
        on="primary_id",
    )
    sides = pl.concat(
        [
            pairs.select(pl.col("primary_id").alias("record_id"), "similarity"),
            pairs.select(pl.col("duplicate_id").alias("record_id"), "similarity"),
        ]
    )
    best = sides.group_by("record_id").agg(pl.col("similarity").max().alias("score"))
    members = (
        clusters.join(pairs.select("cluster_id").unique(), on="cluster_id", how="semi")
        .join(best, on="record_id", how="left")
        .select("cluster_id", "record_id", pl.col("score").fill_null(0.0), "is_primary")
        .sort("cluster_id", "record_id")
    )
    sets = (
        pairs.group_by("cluster_id")
        .agg(pl.col("similarity").max().alias("max_similarity"))
        .join(members.group_by("cluster_id").len("size"), on="cluster_id")
        .sort("cluster_id")
    )
    return Found(sets, members, pairs)


def write(
    session: Session,
    found: Found,
    *,
    workspace_id: str,
    entity_id: str,
    job_id: str,
    now: datetime,
) -> tuple[int, int]:
    """Insert the sets, members and pairs (one id per set and pair); returns (sets, pairs)."""
    if found.sets.height == 0:
        return 0, 0
    sets = found.sets.with_columns(new_ids(found.sets.height).alias("id"))
    set_ids = sets.select("cluster_id", pl.col("id").alias("set_id"))
    insert_frame(
        session,
        DuplicateRecordSet.__table__,  # type: ignore[arg-type]
        sets.select("id", pl.col("size").cast(pl.Int64), "max_similarity"),
        {
            "workspace_id": workspace_id,
            "entity_id": entity_id,
            "job_id": job_id,
            "source": "job",
            "status": "open",
            "created_at": now,
        },
    )
    insert_frame(
        session,
        DuplicateSetMember.__table__,  # type: ignore[arg-type]
        found.members.join(set_ids, on="cluster_id").select(
            "set_id", "record_id", "score", "is_primary"
        ),
    )
    pairs = found.pairs.join(set_ids, on="cluster_id")
    insert_frame(
        session,
        DuplicatePair.__table__,  # type: ignore[arg-type]
        pairs.select(
            new_ids(pairs.height).alias("id"),
            "set_id",
            "primary_id",
            "duplicate_id",
            "similarity",
            json_texts(pairs["matched_fields"]).alias("matched_fields"),
            "reason",
        ),
        {"workspace_id": workspace_id},
    )
    return sets.height, pairs.height
