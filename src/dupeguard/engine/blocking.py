"""Stage 2, block: candidate pairs from several blocking keys, never all pairs.

Records sharing a key value form a block. Within a block, records are sorted by the rule's sort
columns and each is paired with the next ``window`` records: a small block (up to ``window + 1``
records) yields all its pairs, a giant block (gmail.com, "Smith") yields at most
``window`` pairs per record. The cost is O(n · window · rules) whatever the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from ..core.plan import BlockingRule

__all__ = ["DEFAULT_WINDOW", "block_keys", "candidate_pairs", "windowed_pairs"]

DEFAULT_WINDOW = 4


def block_keys(
    prepared: pl.DataFrame, rule: BlockingRule, tiebreak: np.ndarray | None = None
) -> pl.DataFrame:
    """``row, key, sort`` for every record with all of the rule's key columns present.

    Records with equal sort values are ordered by ``tiebreak`` (e.g. a hash of the record id,
    so the candidates do not depend on the order of the input), else by row.

    ``key`` is a 64-bit hash of the key values: two different keys sharing a hash would only
    merge two blocks (a few extra candidates, each still compared on its merits).
    """
    key = pl.concat_str([pl.col(c) for c in rule.columns], separator="\x1f")
    if rule.sort:
        sort = pl.concat_str([pl.col(c).fill_null("\uffff") for c in rule.sort], separator="\x1f")
    else:
        sort = pl.lit("")
    ties = pl.Series("tie", tiebreak) if tiebreak is not None else pl.int_range(pl.len())
    return (
        prepared.lazy()
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            key.alias("key"),
            sort.alias("sort"),
            pl.lit(ties).alias("tie") if tiebreak is not None else ties.alias("tie"),
        )
        .filter(pl.col("key").is_not_null())
        .with_columns(pl.col("key").hash(seed=0))
        .sort(["key", "sort", "tie", "row"])
        .select("row", "key", "sort")
        .collect()
    )


def windowed_pairs(keys: pl.DataFrame, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows within ``window`` places of each other inside the same block.

    ``keys`` is sorted by key, then sort value (as :func:`block_keys` returns it).
    """
    if keys.height < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
    rows = keys["row"].to_numpy()
    block = keys["key"].to_numpy()
    lefts, rights = [], []
    for k in range(1, window + 1):
        same = block[:-k] == block[k:]
        if not same.any():
            break
        lefts.append(rows[:-k][same])
        rights.append(rows[k:][same])
    if not lefts:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
    return np.concatenate(lefts), np.concatenate(rights)


def candidate_pairs(
    prepared: pl.DataFrame,
    rules: Sequence[BlockingRule],
    *,
    window: int = DEFAULT_WINDOW,
    tiebreak: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate pairs (left < right) over all blocking rules, sorted."""
    n = prepared.height
    keys: list[np.ndarray] = []
    for rule in rules:
        left, right = windowed_pairs(block_keys(prepared, rule, tiebreak), window)
        lo = np.minimum(left, right).astype(np.int64)
        hi = np.maximum(left, right).astype(np.int64)
        keys.append(lo * n + hi)
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    uniq = pl.Series(np.concatenate(keys)).unique().sort().to_numpy()
    left, right = np.divmod(uniq, n)
    return left, right
