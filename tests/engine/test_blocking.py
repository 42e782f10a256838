"""Blocking: candidate pairs grow linearly, giant blocks are windowed, small blocks complete."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from dupeguard.core.plan import BlockingRule
from dupeguard.engine.blocking import block_keys, candidate_pairs, windowed_pairs

RULE = BlockingRule("k", ("key",), ("sort",))


def frame(keys: list[str | None], sorts: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": keys, "sort": sorts or [str(i) for i in range(len(keys))]},
        schema={"key": pl.String, "sort": pl.String},
    )


def test_small_blocks_yield_all_their_pairs() -> None:
    keys = ["a"] * 4 + ["b"] * 2 + [None, "c"]
    left, right = candidate_pairs(frame(keys), [RULE], window=4)
    got = set(zip(left.tolist(), right.tolist(), strict=True))
    expected = set(itertools.combinations(range(4), 2)) | {(4, 5)}
    assert got == expected


def test_a_giant_block_costs_at_most_window_pairs_per_record() -> None:
    n, window = 5_000, 4
    left, right = candidate_pairs(frame(["smith"] * n), [RULE], window=window)
    assert len(left) == sum(n - k for k in range(1, window + 1))  # not n·(n-1)/2
    assert (left < right).all()


def test_neighbours_in_sort_order_are_paired() -> None:
    # within a giant block, the records that sort together (e.g. same zip) are compared
    sorts = [f"{i % 50:03d}" for i in range(1_000)]
    keys = frame(["gmail.com"] * 1_000, sorts)
    left, right = windowed_pairs(block_keys(keys, RULE), 4)
    same_sort = [(a, b) for a, b in zip(left, right, strict=True) if sorts[a] == sorts[b]]
    assert len(same_sort) / len(left) > 0.85  # only block edges pair different groups


def test_pairs_are_distinct_across_rules() -> None:
    df = pl.DataFrame({"key": ["x", "x", "y"], "other": ["p", "p", "p"], "sort": ["1", "2", "3"]})
    rules = [RULE, BlockingRule("o", ("other",), ())]
    left, right = candidate_pairs(df, rules, window=4)
    pairs = list(zip(left.tolist(), right.tolist(), strict=True))
    assert sorted(pairs) == [(0, 1), (0, 2), (1, 2)]
    assert len(set(pairs)) == len(pairs)


@given(st.lists(st.sampled_from(["a", "b", "c", None]), max_size=60), st.integers(1, 6))
def test_candidate_count_is_bounded(keys: list[str | None], window: int) -> None:
    left, right = candidate_pairs(frame(keys), [RULE], window=window)
    assert len(left) <= len(keys) * window
    assert all(keys[a] == keys[b] and keys[a] is not None for a, b in zip(left, right, strict=True))
    assert np.all(left < right)
