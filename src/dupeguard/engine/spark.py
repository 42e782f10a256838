"""The Spark engine: the local engine's stages, run by Spark over Arrow batches.

Same interface and same answers as :func:`dupeguard.engine.scan.scan`, for inputs too big for
one machine. Nothing here reimplements matching: every batch function calls the local stage
functions (``prepare``, ``block_keys``, ``compare``, ``pattern_stats``, ``weigh``,
``explain_frame``) on a slice of the data.

1. **normalise** — ``mapInArrow`` runs ``prepare`` per batch of records, plus each record's
   blocking keys (``block_keys``), its rank as a primary, and the values its reasons quote.
   Term frequencies are a group-by per column, joined back.
2. **block** — per blocking rule, a window over the block ordered as locally (sort columns, id
   hash, input position) pairs each record with its next ``window`` records (``lead``); the
   rules' pairs are unioned and de-duplicated by a shuffle (``distinct``).
3. **compare** — pairs are joined to both records' prepared columns; ``mapInArrow`` runs
   ``compare`` per batch (values dictionary-coded per batch: the levels do not depend on the
   dictionary). Compared pairs are persisted (memory and disk).
4. **estimate** — ``pattern_stats`` per batch, summed by a group-by on the level pattern: a few
   thousand rows reach the driver, which runs ``fit`` exactly as the local engine does (with the
   level rates of the same 200,000 random record pairs, found by a distributed ranking). The
   model is broadcast.
5. **score and explain** — ``weigh`` per batch keeps the pairs above the threshold;
   ``explain_frame`` per batch gives their fields and reasons.
6. **cluster** — connected components in DataFrames (``spark_cluster``), numbered as locally.

No step collects pairs or records to the driver; results are written by streaming one partition
at a time (``spark_io.write_result``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ..core.compare import NumericColumn, PairColumn, factorize
from ..core.errors import ConfigError
from ..core.explain import explain_frame
from ..core.fields import FieldSpec
from ..core.plan import Plan, build_plan
from ..core.scoring import Model
from .blocking import DEFAULT_WINDOW, block_keys
from .prepare import prepare
from .scan import detail_exprs, record_completeness, record_created
from .schema import fields_for
from .spark_cluster import connected_components, dense_index
from .spark_io import ROW, read_input, spark_errors
from .stages import (
    RANDOM_SEED,
    PatternStats,
    compare,
    fit,
    pattern_stats,
    random_levels,
    random_pairs,
    weigh,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkScanResult", "scan", "scan_path"]

Progress = Callable[[str, int, int], None]
_SIGN = np.uint64(1 << 63)


@dataclass
class SparkScanResult:
    """Like :class:`dupeguard.engine.scan.ScanResult`, with Spark DataFrames (sorted as the
    local engine sorts them) instead of in-memory frames."""

    pairs: DataFrame  # primary_id, duplicate_id, similarity, matched_fields, reason
    clusters: DataFrame  # record_id, cluster_id, is_primary
    records: int
    candidate_pairs: int
    matched_pairs: int
    model: Model
    timings: dict[str, float] = field(default_factory=dict)
    _cached: list[DataFrame] = field(default_factory=list, repr=False)

    def unpersist(self) -> None:
        """Release the cached intermediate frames (after the results are written)."""
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()


@dataclass(frozen=True)
class _Layout:
    """What a batch function needs to rebuild the plan on an executor, and column names."""

    entity: str
    fields: tuple[FieldSpec, ...]
    id_column: str
    region: str

    def plan(self) -> Plan:
        return build_plan(self.entity, list(self.fields))


def _needed(plan: Plan) -> list[str]:
    wanted = {c for comparison in plan.comparisons for c in comparison.columns}
    return [d.name for d in plan.derived if d.name in wanted]


def _numeric(plan: Plan) -> set[str]:
    return {d.name for d in plan.derived if d.numeric}


def _tf_keys(plan: Plan) -> list[str]:
    return [
        f"{c.name}:{i}" for c in plan.comparisons for i, level in enumerate(c.levels) if level.tf
    ]


def _batches(frame: pl.DataFrame, schema: Any) -> Iterator[Any]:
    yield from frame.to_arrow().cast(schema).to_batches()


def _arrow_schema(spark_schema: str) -> Any:
    import pyarrow as pa

    kinds = {
        "bigint": pa.int64(),
        "string": pa.string(),
        "double": pa.float64(),
        "tinyint": pa.int8(),
        "array<string>": pa.list_(pa.string()),
    }
    fields = []
    for part in spark_schema.split(", "):
        name, kind = part.split(" ", 1)
        fields.append(pa.field(name, kinds[kind]))
    return pa.schema(fields)


# -- batch functions (run on executors) -----------------------------------------------------


def _records_fn(layout: _Layout, schema: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
    target = _arrow_schema(schema)

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        plan = layout.plan()
        needed, numeric = _needed(plan), _numeric(plan)
        for batch in batches:
            raw = pl.from_arrow(batch)
            assert isinstance(raw, pl.DataFrame)
            n = raw.height
            prepared = prepare(raw, plan, default_region=layout.region)
            ids = raw[layout.id_column].cast(pl.String)
            tie = ids.hash(seed=RANDOM_SEED).to_numpy()
            out: dict[str, Any] = {
                ROW: raw[ROW],
                "id": ids,
                "tie": pl.Series((tie ^ _SIGN).view(np.int64)),  # signed order = unsigned
            }
            for i, rule in enumerate(plan.blocking):
                keys = block_keys(prepared, rule, tie)
                rows = keys["row"].to_numpy().astype(np.int64)
                hashed = pl.Series(keys["key"].to_numpy().view(np.int64), dtype=pl.Int64)
                # records without the rule's key stay null (a batch may have none with it)
                out[f"k{i}"] = pl.Series([None] * n, dtype=pl.Int64).scatter(rows, hashed)
                out[f"s{i}"] = pl.Series([None] * n, dtype=pl.String).scatter(
                    rows, keys["sort"].cast(pl.String)
                )
            for j, name in enumerate(needed):
                column = prepared[name]
                out[f"p{j}"] = column.cast(pl.Float64 if name in numeric else pl.String)
            out["comp"] = pl.Series(record_completeness(raw, plan))
            out["created"] = pl.Series(record_created(raw, plan))
            for i, expr in enumerate(detail_exprs(raw, plan).values()):
                out[f"d{i}"] = raw.select(expr.alias("v"))["v"]
            yield from _batches(pl.DataFrame(out), target)

    return run


def _records_schema(plan: Plan) -> str:
    """Columns of a prepared record: position, id, id hash, blocking keys and sort values,
    prepared columns, rank as a primary, quoted values."""
    numeric = _numeric(plan)
    parts = [f"{ROW} bigint", "id string", "tie bigint"]
    for i in range(len(plan.blocking)):
        parts += [f"k{i} bigint", f"s{i} string"]
    parts += [f"p{j} {'double' if n in numeric else 'string'}" for j, n in enumerate(_needed(plan))]
    parts += ["comp bigint", "created double"]
    parts += [f"d{i} string" for i in range(len(detail_exprs(pl.DataFrame(), plan)))]
    return ", ".join(parts)


def _pair_columns(
    plan: Plan, frame: pl.DataFrame, index: dict[str, int]
) -> dict[str, PairColumn | NumericColumn]:
    """The pairs' prepared columns, coded per batch (one dictionary per column group, as
    ``code_columns`` shares one dictionary per group)."""
    out: dict[str, PairColumn | NumericColumn] = {}
    groups: dict[str, list[str]] = {}
    for d in plan.derived:
        if d.name not in index:
            continue
        j = index[d.name]
        if d.numeric:
            left, right = (
                frame[f"p{j}_{side}"].cast(pl.Float64).fill_null(np.nan).to_numpy() for side in "lr"
            )
            out[d.name] = NumericColumn(left.astype(np.float64), right.astype(np.float64))
        else:
            groups.setdefault(d.group or d.name, []).append(d.name)
    for names in groups.values():
        series = [frame[f"p{index[n]}_l"] for n in names] + [frame[f"p{index[n]}_r"] for n in names]
        codes, values = factorize(series)
        for i, name in enumerate(names):
            out[name] = PairColumn(codes[i], codes[len(names) + i], values)
    return out


def _gammas(frame: pl.DataFrame, k: int) -> np.ndarray:
    if k == 0:
        return np.zeros((frame.height, 0), dtype=np.int8)
    return np.column_stack([frame[f"g{j}"].to_numpy() for j in range(k)]).astype(np.int8)


def _tf(plan: Plan, frame: pl.DataFrame, index: dict[str, int]) -> dict[str, np.ndarray]:
    return {
        name: frame[f"t{index[name]}"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for name in plan.tf_columns
    }


def _compare_fn(layout: _Layout, schema: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
    target = _arrow_schema(schema)

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        plan = layout.plan()
        index = {name: j for j, name in enumerate(_needed(plan))}
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            gammas = compare(plan, _pair_columns(plan, frame, index))
            out: dict[str, Any] = {"l": frame["l"], "r": frame["r"]}
            for j in range(len(plan.comparisons)):
                out[f"g{j}"] = pl.Series(gammas[:, j], dtype=pl.Int8)
            for name in plan.tf_columns:
                t = f"t{index[name]}"
                if t in frame.columns:
                    out[t] = frame[t].cast(pl.Float64)
            yield from _batches(pl.DataFrame(out), target)

    return run


def _patterns_fn(layout: _Layout, schema: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
    target = _arrow_schema(schema)

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        plan = layout.plan()
        index = {name: j for j, name in enumerate(_needed(plan))}
        keys, k = _tf_keys(plan), len(plan.comparisons)
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            stats = pattern_stats(plan, _gammas(frame, k), _tf(plan, frame, index))
            out: dict[str, Any] = {
                f"g{j}": pl.Series(stats.patterns[:, j].astype(np.int8)) for j in range(k)
            }
            out["n"] = pl.Series(stats.counts.astype(np.float64))
            for q, key in enumerate(keys):
                out[f"lt{q}"] = pl.Series(stats.log_tf[key].astype(np.float64))
            yield from _batches(pl.DataFrame(out), target)

    return run


def _weigh_fn(
    layout: _Layout, model: Any, threshold: float, schema: str
) -> Callable[[Iterable[Any]], Iterator[Any]]:
    target = _arrow_schema(schema)

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        plan = layout.plan()
        fitted = Model.from_dict(model.value)
        index = {name: j for j, name in enumerate(_needed(plan))}
        k = len(plan.comparisons)
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            gammas = _gammas(frame, k)
            weights, probability = weigh(plan, fitted, gammas, _tf(plan, frame, index))
            keep = probability >= threshold
            out: dict[str, Any] = {
                "l": frame["l"].filter(pl.Series(keep)),
                "r": frame["r"].filter(pl.Series(keep)),
                "p": pl.Series(probability[keep], dtype=pl.Float64),
            }
            for j in range(k):
                out[f"g{j}"] = pl.Series(gammas[keep, j], dtype=pl.Int8)
                out[f"w{j}"] = pl.Series(weights[keep, j], dtype=pl.Float64)
            yield from _batches(pl.DataFrame(out), target)

    return run


def _explain_fn(layout: _Layout, schema: str) -> Callable[[Iterable[Any]], Iterator[Any]]:
    target = _arrow_schema(schema)

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        plan = layout.plan()
        k = len(plan.comparisons)
        detail_keys = list(detail_exprs(pl.DataFrame(), plan))
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            gammas = _gammas(frame, k)
            weights = (
                np.column_stack([frame[f"w{j}"].to_numpy() for j in range(k)])
                if k
                else np.zeros((frame.height, 0))
            )
            details = {
                key: (
                    frame[f"d{i}_l"].to_numpy().astype(object),
                    frame[f"d{i}_r"].to_numpy().astype(object),
                )
                for i, key in enumerate(detail_keys)
            }
            matched, reasons = explain_frame(plan.comparisons, gammas, weights, details)
            swap = _worse(frame, "l", "r")
            id_l, id_r = frame["id_l"].to_numpy(), frame["id_r"].to_numpy()
            out = pl.DataFrame(
                [
                    pl.Series("primary_id", np.where(swap, id_r, id_l), dtype=pl.String),
                    pl.Series("duplicate_id", np.where(swap, id_l, id_r), dtype=pl.String),
                    pl.Series("similarity", np.round(frame["p"].to_numpy(), 6), dtype=pl.Float64),
                    matched.rename("matched_fields"),
                    reasons.rename("reason"),
                ]
            )
            yield from _batches(out, target)

    return run


def _worse(frame: pl.DataFrame, a: str, b: str) -> np.ndarray:
    """True where record ``a`` ranks after ``b`` as a primary (``core.cluster.primary_rank``:
    most complete, then oldest, then smallest id)."""
    ca, cb = frame[f"comp_{a}"].to_numpy(), frame[f"comp_{b}"].to_numpy()
    ta = np.nan_to_num(frame[f"created_{a}"].to_numpy().astype(np.float64), nan=np.inf)
    tb = np.nan_to_num(frame[f"created_{b}"].to_numpy().astype(np.float64), nan=np.inf)
    ia = frame[f"id_{a}"].to_numpy().astype(object)
    ib = frame[f"id_{b}"].to_numpy().astype(object)
    later_id = np.array([x > y for x, y in zip(ia, ib, strict=True)], dtype=bool)
    return (ca < cb) | ((ca == cb) & ((ta > tb) | ((ta == tb) & later_id)))


# -- the engine ------------------------------------------------------------------------------


def scan(
    records: DataFrame,
    fields: Sequence[FieldSpec],
    *,
    entity: str = "contact",
    id_column: str = "id",
    threshold: float = 0.85,
    limit: int | None = None,
    window: int = DEFAULT_WINDOW,
    default_region: str = "US",
    progress: Progress | None = None,
) -> SparkScanResult:
    """Find the duplicate pairs and duplicate record sets in a Spark DataFrame of string
    columns with unique, non-null ids (as :func:`~dupeguard.engine.spark_io.read_input` gives;
    a column :data:`~dupeguard.engine.spark_io.ROW` holding the input order is added if
    missing). The results equal the local engine's on the same records."""
    from pyspark.sql import functions as F

    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    if window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    with spark_errors():
        return _scan(
            records,
            fields,
            F,
            entity=entity,
            id_column=id_column,
            threshold=threshold,
            limit=limit,
            window=window,
            region=default_region,
            progress=progress,
        )


def _scan(
    records: DataFrame,
    fields: Sequence[FieldSpec],
    F: Any,
    *,
    entity: str,
    id_column: str,
    threshold: float,
    limit: int | None,
    window: int,
    region: str,
    progress: Progress | None,
) -> SparkScanResult:
    from pyspark.sql import Window

    spark = records.sparkSession
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    cached: list[DataFrame] = []

    def lap(name: str, following: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        if progress:
            progress(following, 0, 0)

    if progress:
        progress("normalise", 0, 0)
    layout = _Layout(entity, tuple(fields), id_column, region)
    plan = layout.plan()
    needed = _needed(plan)
    index = {name: j for j, name in enumerate(needed)}
    k = len(plan.comparisons)
    details = list(detail_exprs(pl.DataFrame(), plan))
    if ROW not in records.columns:
        records = records.withColumn(ROW, F.monotonically_increasing_id())
    used = {f.column for f in plan.fields if f.column and f.column in records.columns}
    source = records.select(*[F.col(f"`{c}`") for c in sorted(used | {id_column})], ROW)

    # 1. normalise: prepare + blocking keys + rank + quoted values, per batch
    schema = _records_schema(plan)
    prepared = source.mapInArrow(_records_fn(layout, schema), schema).persist()
    cached.append(prepared)
    prepared.count()
    base = prepared
    for name in plan.tf_columns:  # term frequency: share of the non-null values
        p = f"p{index[name]}"
        counts = base.where(F.col(p).isNotNull()).groupBy(p).agg(F.count(F.lit(1)).alias("c"))
        total = counts.agg(F.sum("c").alias("total"))
        tf = counts.crossJoin(total).select(
            p, (F.col("c").cast("double") / F.greatest(F.col("total"), F.lit(1))).alias("tf")
        )
        prepared = prepared.join(tf, p, "left").withColumnRenamed("tf", f"t{index[name]}")
    prepared = prepared.persist()
    cached.append(prepared)
    n_records = prepared.count()
    lap("normalise", "block")

    # 2. block: each record with its next `window` records in the block, as ordered locally
    pairs = None
    for i in range(len(plan.blocking)):
        order = Window.partitionBy(f"k{i}").orderBy(f"s{i}", "tie", ROW)
        following = [
            F.lead(ROW, step).over(order).alias(f"n{step}") for step in range(1, window + 1)
        ]
        rule_pairs = (
            prepared.where(F.col(f"k{i}").isNotNull())
            .select(F.col(ROW).alias("a"), *following)
            .select("a", F.explode(F.array(*[f"n{s}" for s in range(1, window + 1)])).alias("b"))
            .where(F.col("b").isNotNull())
        )
        pairs = rule_pairs if pairs is None else pairs.unionByName(rule_pairs)
    if pairs is None:
        pairs = spark.createDataFrame([], "a bigint, b bigint")
    candidates = pairs.select(
        F.least("a", "b").alias("l"), F.greatest("a", "b").alias("r")
    ).distinct()

    def side(suffix: str, with_tf: bool) -> DataFrame:
        columns = [F.col(ROW).alias(suffix)]
        columns += [F.col(f"p{j}").alias(f"p{j}_{suffix}") for j in range(len(needed))]
        if with_tf:
            columns += [F.col(f"t{index[n]}") for n in plan.tf_columns]
        return prepared.select(*columns)

    def with_values(frame: DataFrame) -> DataFrame:
        return frame.join(side("l", True), "l").join(side("r", False), "r")

    compared_schema = ", ".join(
        ["l bigint", "r bigint"]
        + [f"g{j} tinyint" for j in range(k)]
        + [f"t{index[n]} double" for n in plan.tf_columns]
    )
    compared = (
        with_values(candidates)
        .mapInArrow(_compare_fn(layout, compared_schema), compared_schema)
        .persist()
    )
    cached.append(compared)
    n_candidates = compared.count()
    lap("block", "compare")
    lap("compare", "score")

    # 3. estimate: summed pattern statistics + the random-pair level rates, fit on the driver
    keys = _tf_keys(plan)
    pattern_schema = ", ".join(
        [f"g{j} tinyint" for j in range(k)]
        + ["n double"]
        + [f"lt{q} double" for q in range(len(keys))]
    )
    summed = (
        compared.mapInArrow(_patterns_fn(layout, pattern_schema), pattern_schema)
        .groupBy(*[f"g{j}" for j in range(k)])
        .agg(F.sum("n").alias("n"), *[F.sum(f"lt{q}").alias(f"lt{q}") for q in range(len(keys))])
        .toArrow()
    )
    stats = _stats(pl.from_arrow(summed), k, keys)  # type: ignore[arg-type]
    background = random_levels(
        plan,
        _random_gammas(prepared, with_values, layout, compared_schema, n_records, k),
        n_records,
    )
    model = fit(plan, stats, background)
    shared = spark.sparkContext.broadcast(model.to_dict())

    # 4. score: pairs above the threshold, with their levels and weights
    kept_schema = ", ".join(
        ["l bigint", "r bigint", "p double"]
        + [f"{c}{j} {t}" for j in range(k) for c, t in (("g", "tinyint"), ("w", "double"))]
    )
    matched = compared.mapInArrow(
        _weigh_fn(layout, shared, threshold, kept_schema), kept_schema
    ).persist()
    cached.append(matched)
    n_matched = matched.count()
    compared.unpersist()  # everything after this reads the (much smaller) matched pairs
    cached.remove(compared)
    lap("score", "explain")

    # 5. explain: fields, reasons, primary and duplicate
    def info(suffix: str) -> DataFrame:
        columns = [
            F.col(ROW).alias(suffix),
            F.col("id").alias(f"id_{suffix}"),
            F.col("comp").alias(f"comp_{suffix}"),
            F.col("created").alias(f"created_{suffix}"),
        ]
        columns += [F.col(f"d{i}").alias(f"d{i}_{suffix}") for i in range(len(details))]
        return prepared.select(*columns)

    pairs_schema = (
        "primary_id string, duplicate_id string, similarity double, "
        "matched_fields array<string>, reason string"
    )
    explained = (
        matched.join(info("l"), "l")
        .join(info("r"), "r")
        .mapInArrow(_explain_fn(layout, pairs_schema), pairs_schema)
        .orderBy(F.desc("similarity"), "primary_id", "duplicate_id")
    )
    if limit is not None:
        explained = explained.limit(limit)
    lap("explain", "cluster")

    # 6. cluster: connected components of the matched pairs, numbered as locally
    clusters = _clusters(prepared, matched, F)
    lap("cluster", "done")
    return SparkScanResult(
        pairs=explained,
        clusters=clusters,
        records=n_records,
        candidate_pairs=n_candidates,
        matched_pairs=n_matched,
        model=model,
        timings=timings,
        _cached=cached,
    )


def _stats(frame: pl.DataFrame, k: int, keys: list[str]) -> PatternStats:
    columns = [f"g{j}" for j in range(k)]
    frame = frame.sort(columns) if k else frame
    patterns = (
        frame.select(columns).to_numpy().astype(np.int64)
        if k
        else np.zeros((frame.height, 0), dtype=np.int64)
    )
    return PatternStats(
        patterns.reshape(frame.height, k),
        frame["n"].to_numpy().astype(np.float64),
        {key: frame[f"lt{q}"].to_numpy().astype(np.float64) for q, key in enumerate(keys)},
    )


def _random_gammas(
    prepared: DataFrame,
    with_values: Callable[[DataFrame], DataFrame],
    layout: _Layout,
    schema: str,
    n: int,
    k: int,
) -> np.ndarray:
    """Levels of the local engine's random record pairs: positions in (id hash, id) order."""
    import pandas as pd
    from pyspark.sql import functions as F

    left, right = random_pairs(n)
    if len(left) == 0:
        return np.zeros((0, k), dtype=np.int8)
    spark = prepared.sparkSession
    ranked = dense_index(prepared.select(ROW, "tie", "id"), [F.col("tie"), F.col("id")], "pos")
    ranked = ranked.select("pos", ROW)
    wanted = spark.createDataFrame(
        pd.DataFrame({"pl": left.astype(np.int64), "pr": right.astype(np.int64)})
    )
    sample = (
        wanted.join(ranked.withColumnRenamed("pos", "pl").withColumnRenamed(ROW, "l"), "pl")
        .join(ranked.withColumnRenamed("pos", "pr").withColumnRenamed(ROW, "r"), "pr")
        .select("l", "r")
    )
    levels = with_values(sample).mapInArrow(_compare_fn(layout, schema), schema)
    table = levels.select(*[f"g{j}" for j in range(k)]).toArrow()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return _gammas(frame, k)


def _clusters(prepared: DataFrame, matched: DataFrame, F: Any) -> DataFrame:
    edges = matched.select(F.col("l").alias("a"), F.col("r").alias("b"))
    labels = connected_components(edges)
    created = F.when(F.isnan("created") | F.col("created").isNull(), F.lit(float("inf"))).otherwise(
        F.col("created")
    )
    members = labels.join(
        prepared.select(
            F.col(ROW).alias("node"),
            "id",
            (-F.col("comp")).alias("rank_c"),
            created.alias("rank_t"),
        ),
        "node",
    )
    sets = members.groupBy("component").agg(
        F.count(F.lit(1)).alias("size"),
        F.min(F.struct("rank_c", "rank_t", "id")).alias("best"),
    )
    sets = sets.select("component", "size", F.col("best.id").alias("primary"))
    numbered = dense_index(sets, [F.desc("size"), F.col("primary")], "cluster_id", start=1)
    return (
        members.join(numbered.select("component", "primary", "cluster_id"), "component")
        .select(
            F.col("id").alias("record_id"),
            F.col("cluster_id").cast("bigint"),
            (F.col("id") == F.col("primary")).alias("is_primary"),
        )
        .orderBy("cluster_id", F.desc("is_primary"), "record_id")
    )


def scan_path(
    spark: SparkSession,
    path: str,
    *,
    entity: str = "contact",
    id_column: str = "id",
    maps: dict[str, str] | None = None,
    types: dict[str, str] | None = None,
    fmt: str | None = None,
    **options: Any,
) -> SparkScanResult:
    """Read ``path`` with Spark (checked like the local reader), map its columns to fields as
    the local CLI does (types inferred from its first 2,000 rows), and scan it."""
    from pyspark.sql import functions as F

    records = read_input(spark, path, id_column=id_column, fmt=fmt)
    with spark_errors(path):
        head = records.orderBy(ROW).limit(2_000).drop(ROW).toArrow()
    sample = pl.from_arrow(head)
    assert isinstance(sample, pl.DataFrame)
    specs = fields_for(sample, entity=entity, id_column=id_column, maps=maps, types=types)
    del F
    return scan(records, specs, entity=entity, id_column=id_column, **options)
