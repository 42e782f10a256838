"""The local engine: a whole scan on one machine, stage by stage.

normalise (``prepare``) → block (``candidate_pairs``) → compare → estimate (``fit``) → score
(``weigh``) → explain → cluster. Every stage is a plain function (see ``stages``), so another
engine can run the same ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..core.cluster import components, primary_flags, primary_rank
from ..core.errors import ConfigError
from ..core.explain import explain_frame
from ..core.fields import FieldSpec
from ..core.plan import Plan, build_plan
from ..core.scoring import Model
from .blocking import DEFAULT_WINDOW, candidate_pairs
from .prepare import prepare
from .stages import (
    RANDOM_SEED,
    code_columns,
    compare,
    compare_all,
    fit,
    pair_columns,
    pattern_stats,
    random_levels,
    random_pairs,
    tf_values,
    weigh,
)

__all__ = [
    "ScanResult",
    "detail_exprs",
    "primary_ranks",
    "record_completeness",
    "record_created",
    "scan",
]

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ScanResult:
    pairs: pl.DataFrame  # primary_id, duplicate_id, similarity, matched_fields, reason
    clusters: pl.DataFrame  # record_id, cluster_id, is_primary (members of duplicate sets)
    records: int
    candidate_pairs: int
    matched_pairs: int
    model: Model
    timings: dict[str, float] = field(default_factory=dict)


def scan(
    records: pl.DataFrame,
    fields: Sequence[FieldSpec],
    *,
    entity: str = "contact",
    id_column: str = "id",
    threshold: float = 0.85,
    limit: int | None = None,
    window: int = DEFAULT_WINDOW,
    default_region: str = "US",
    progress: Progress | None = None,
) -> ScanResult:
    """Find the duplicate pairs and duplicate record sets in ``records``."""
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    if window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    stages = iter(("block", "compare", "score", "explain", "cluster", "done"))

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        if progress:
            progress(next(stages), 0, 0)

    if progress:
        progress("normalise", 0, 0)

    plan = build_plan(entity, fields)
    prepared = prepare(records, plan, default_region=default_region)
    coded = code_columns(prepared, plan)
    lap("normalise")
    id_series = records[id_column].cast(pl.String)
    tiebreak = id_series.hash(seed=RANDOM_SEED).to_numpy()  # results do not depend on row order
    left, right = candidate_pairs(prepared, plan.blocking, window=window, tiebreak=tiebreak)
    del prepared
    lap("block")
    total = len(left)
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress("compare", done, total)

    gammas = compare_all(plan, coded, left, right, progress=step)
    tf = tf_values(plan, coded, left)
    lap("compare")
    canonical = np.lexsort((id_series.to_numpy(), tiebreak))
    rl, rr = random_pairs(records.height)
    rl, rr = canonical[rl], canonical[rr]
    background = random_levels(plan, compare(plan, pair_columns(coded, rl, rr)), records.height)
    model = fit(plan, pattern_stats(plan, gammas, tf), background)
    weights, probability = weigh(plan, model, gammas, tf)
    lap("score")

    keep = np.flatnonzero(probability >= threshold)
    ids = id_series.to_numpy().astype(object)
    rank = primary_ranks(records, plan, ids)
    kl, kr = left[keep], right[keep]
    swap = rank[kl] > rank[kr]
    primary = np.where(swap, kr, kl)
    duplicate = np.where(swap, kl, kr)
    similarity = np.round(probability[keep], 6)
    order = np.lexsort((ids[duplicate], ids[primary], -similarity))
    if limit is not None:
        order = order[:limit]
    out_rows = keep[order]
    matched, reasons = explain_frame(
        plan.comparisons,
        gammas[out_rows],
        weights[out_rows],
        _details(records, plan, left[out_rows], right[out_rows]),
    )
    pairs = pl.DataFrame(
        [
            pl.Series("primary_id", ids[primary[order]], dtype=pl.String),
            pl.Series("duplicate_id", ids[duplicate[order]], dtype=pl.String),
            pl.Series("similarity", similarity[order], dtype=pl.Float64),
            matched.rename("matched_fields"),
            reasons.rename("reason"),
        ]
    )
    lap("explain")
    clusters = _clusters(ids, rank, kl, kr)
    lap("cluster")
    return ScanResult(
        pairs=pairs,
        clusters=clusters,
        records=records.height,
        candidate_pairs=total,
        matched_pairs=len(keep),
        model=model,
        timings=timings,
    )


def _clusters(
    ids: np.ndarray, rank: np.ndarray, left: np.ndarray, right: np.ndarray
) -> pl.DataFrame:
    n = len(ids)
    labels = components(left, right, n)
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
    members = np.flatnonzero(sizes[labels] >= 2)
    flags = primary_flags(labels, rank)
    # number the sets: largest first, then by their primary record's id
    set_labels = np.unique(labels[members])
    primary_of = np.full(len(sizes), -1, dtype=np.int64)
    primary_of[labels[flags]] = np.flatnonzero(flags)
    set_primary_ids = ids[primary_of[set_labels]]
    order = np.lexsort((set_primary_ids, -sizes[set_labels]))
    number = np.zeros(len(sizes), dtype=np.int64)
    number[set_labels[order]] = np.arange(1, len(set_labels) + 1)
    frame = pl.DataFrame(
        {
            "record_id": ids[members],
            "cluster_id": number[labels[members]],
            "is_primary": flags[members],
        },
        schema={"record_id": pl.String, "cluster_id": pl.Int64, "is_primary": pl.Boolean},
    )
    return frame.sort(["cluster_id", "is_primary", "record_id"], descending=[False, True, False])


def _raw(records: pl.DataFrame, spec: FieldSpec) -> pl.Expr:
    if spec.column and spec.column in records.columns:
        return pl.col(spec.column).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


def primary_ranks(records: pl.DataFrame, plan: Plan, ids: np.ndarray) -> np.ndarray:
    """Each record's rank as a primary: the most complete first, then the oldest, then by id
    (the order :func:`dupeguard.core.cluster.primary_flags` picks primaries by)."""
    return primary_rank(record_completeness(records, plan), record_created(records, plan), ids)


def record_completeness(records: pl.DataFrame, plan: Plan) -> np.ndarray:
    """How many compared fields each record fills (row-wise)."""
    compared = [f for f in plan.fields if f.name in plan.compared_fields]
    if not compared:
        return np.zeros(records.height, dtype=np.int64)
    expr = pl.sum_horizontal(
        [
            (_raw(records, f).str.strip_chars().str.len_chars() > 0).fill_null(False)
            for f in compared
        ]
    )
    return records.select(expr.alias("n"))["n"].to_numpy().astype(np.int64)


def record_created(records: pl.DataFrame, plan: Plan) -> np.ndarray:
    """Each record's creation time in epoch seconds (NaN when unknown; row-wise)."""
    spec = next((f for f in plan.fields if f.name == plan.created_field), None)
    if spec is None:
        return np.full(records.height, np.nan)
    text = _raw(records, spec).str.strip_chars()
    stamp = pl.coalesce(
        text.str.to_datetime(strict=False, time_zone="UTC"),
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us", "UTC")),
    )
    values = records.select(stamp.dt.epoch("s").cast(pl.Float64).alias("t"))["t"]
    return values.fill_null(np.nan).to_numpy().astype(np.float64)


def _details(
    records: pl.DataFrame, plan: Plan, left: np.ndarray, right: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Display values quoted by fuzzy levels, e.g. the two names in "(Jon Smith ~ John Smith)"."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = np.unique(np.concatenate([left, right])) if len(left) else np.zeros(0, np.int64)
    for detail, expr in detail_exprs(records, plan).items():
        subset = records[rows].select(expr.alias("v"))["v"].to_numpy().astype(object)
        lookup = np.full(records.height, None, dtype=object)
        lookup[rows] = subset
        out[detail] = (lookup[left], lookup[right])
    return out


def detail_exprs(records: pl.DataFrame, plan: Plan) -> dict[str, pl.Expr]:
    """Per ``Comparison.detail``, the row-wise expression of the display value it quotes."""
    out: dict[str, pl.Expr] = {}
    by_name = {f.name: f for f in plan.fields}
    for comparison in plan.comparisons:
        if comparison.detail is None:
            continue
        specs = [by_name[f] for f in comparison.fields if f in by_name]
        if not specs:
            continue
        out[comparison.detail] = pl.concat_str(
            [_raw(records, s).str.strip_chars() for s in specs], separator=" ", ignore_nulls=True
        )
    return out
