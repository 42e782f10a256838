"""Distributed pieces of the Spark engine that have no local stage: connected components and
dense numbering, with DataFrames only (nothing collected but one row per partition).

Connected components use the alternating *large-star* / *small-star* rounds of Kiveris et al.,
"Connected Components in MapReduce and Beyond" (SoCC 2014): each round is a group-by and a join,
the number of rounds grows with log² of the component size, and every round's edges are
checkpointed locally so the query plan stays short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["connected_components", "dense_index"]

MAX_ROUNDS = 200


def _large_star(edges: DataFrame) -> DataFrame:
    """Connect every larger neighbour of a node to the node's smallest neighbour (or itself)."""
    from pyspark.sql import functions as F

    both = edges.select("a", "b").unionByName(
        edges.select(F.col("b").alias("a"), F.col("a").alias("b"))
    )
    smallest = both.groupBy("a").agg(F.least(F.min("b"), F.col("a")).alias("m"))
    return (
        both.where(F.col("b") > F.col("a"))
        .join(smallest, "a")
        .select(F.col("b").alias("a"), F.col("m").alias("b"))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Connect a node and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    oriented = edges.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b")).where(
        F.col("a") != F.col("b")
    )
    smallest = oriented.groupBy("a").agg(F.min("b").alias("m"))
    return (
        oriented.join(smallest, "a")
        .select(
            F.when(F.col("b") == F.col("m"), F.col("a")).otherwise(F.col("b")).alias("a"),
            F.col("m").alias("b"),
        )
        .distinct()
    )


def _is_stars(edges: DataFrame) -> bool:
    """Every edge points from a node to its component's smallest node (which points nowhere)."""
    from pyspark.sql import functions as F

    several = edges.groupBy("a").agg(F.countDistinct("b").alias("n")).where(F.col("n") > 1)
    if not several.isEmpty():
        return False
    roots = edges.select(F.col("b").alias("a")).distinct()
    return roots.join(edges.select("a"), "a", "leftsemi").isEmpty()


def connected_components(edges: DataFrame) -> DataFrame:
    """``node, component`` (the component's smallest node) for every node of ``a, b`` edges
    (bigint node ids; edges are undirected)."""
    from pyspark.sql import functions as F

    from ..core.errors import ConfigError

    current = edges.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b")).where(
        F.col("a") != F.col("b")
    )
    current = current.distinct().localCheckpoint()
    for _ in range(MAX_ROUNDS):
        current = _small_star(_large_star(current)).localCheckpoint()
        if _is_stars(current):
            break
    else:  # pragma: no cover - needs a chain far longer than any duplicate set
        raise ConfigError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    roots = current.select(F.col("b").alias("node"), F.col("b").alias("component")).distinct()
    return current.select(F.col("a").alias("node"), F.col("b").alias("component")).unionByName(
        roots
    )


def dense_index(df: DataFrame, order: list[Column], name: str, start: int = 0) -> DataFrame:
    """``df`` with ``name`` = its position (``start``-based) in ``order`` (a total order).

    Sorts by range partitioning, numbers rows inside each partition and adds the partition's
    offset (one count per partition reaches the driver): no single-partition window.
    """
    from pyspark.sql import functions as F

    spark = df.sparkSession
    ordered = (
        df.orderBy(*order)
        .withColumn("__part", F.spark_partition_id())
        .withColumn("__mono", F.monotonically_increasing_id())
        .persist()
    )
    counts = sorted(
        (r["__part"], r["n"])
        for r in ordered.groupBy("__part").agg(F.count(F.lit(1)).alias("n")).collect()
    )
    offsets, total = [], start
    for part, n in counts:
        offsets.append((part, total))
        total += n
    table = spark.createDataFrame(offsets or [(0, start)], "__part int, __offset bigint")
    local = F.col("__mono") - F.shiftleft(F.col("__part").cast("bigint"), 33)
    return (
        ordered.join(F.broadcast(table), "__part")
        .withColumn(name, F.col("__offset") + local)
        .drop("__part", "__mono", "__offset")
    )
