"""Stages 3–6 over columnar batches: code, compare, estimate, weigh, explain, cluster.

Each stage is a plain function with explicit inputs and outputs, so the local engine runs them
over whole arrays and a distributed engine can run them over partitions: ``compare`` and
``weigh`` are row-wise over pairs, ``pattern_stats`` yields small aggregates that sum across
partitions, and ``fit`` needs only those aggregates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..core.compare import NumericColumn, PairColumn, factorize
from ..core.plan import Plan
from ..core.scoring import Model, estimate, pattern_counts, prior_probabilities

__all__ = [
    "Coded",
    "PatternStats",
    "code_columns",
    "compare",
    "fit",
    "pair_columns",
    "pattern_stats",
    "weigh",
]

CHUNK = 1_000_000  # pairs compared at once: bounds memory whatever the number of pairs


@dataclass
class Coded:
    """Prepared columns as integer codes into value dictionaries, plus term frequencies."""

    codes: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    tf: dict[str, np.ndarray] = field(default_factory=dict)  # frequency of each code's value


def code_columns(prepared: pl.DataFrame, plan: Plan) -> Coded:
    """Dictionary-code every compared column; columns of one group share a dictionary."""
    coded = Coded()
    needed = {c for comparison in plan.comparisons for c in comparison.columns}
    groups: dict[str, list[str]] = {}
    for d in plan.derived:
        if d.name not in needed:
            continue
        if d.numeric:
            coded.numbers[d.name] = (
                prepared[d.name].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)
            )
        else:
            groups.setdefault(d.group or d.name, []).append(d.name)
    for names in groups.values():
        group_codes, values = factorize([prepared[n] for n in names])
        for name, c in zip(names, group_codes, strict=True):
            coded.codes[name] = c
            coded.values[name] = values
    for name in plan.tf_columns:
        present = coded.codes[name][coded.codes[name] >= 0]
        counts = np.bincount(present, minlength=len(coded.values[name])).astype(np.float64)
        coded.tf[name] = counts / max(len(present), 1)
    return coded


def pair_columns(
    coded: Coded, left: np.ndarray, right: np.ndarray
) -> dict[str, PairColumn | NumericColumn]:
    out: dict[str, PairColumn | NumericColumn] = {}
    for name, codes in coded.codes.items():
        out[name] = PairColumn(codes[left], codes[right], coded.values[name])
    for name, numbers in coded.numbers.items():
        out[name] = NumericColumn(numbers[left], numbers[right])
    return out


def compare(
    plan: Plan,
    columns: Mapping[str, PairColumn | NumericColumn],
) -> np.ndarray:
    """Level of every comparison for every pair (pairs × comparisons, int8)."""
    n = len(next(iter(columns.values())).left) if columns else 0
    gammas = np.zeros((n, len(plan.comparisons)), dtype=np.int8)
    for j, comparison in enumerate(plan.comparisons):
        gammas[:, j] = comparison.evaluate(columns)
    return gammas


def compare_all(
    plan: Plan,
    coded: Coded,
    left: np.ndarray,
    right: np.ndarray,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``compare`` over all candidate pairs, a chunk at a time."""
    out = np.zeros((len(left), len(plan.comparisons)), dtype=np.int8)
    for start in range(0, len(left), CHUNK):
        stop = min(start + CHUNK, len(left))
        out[start:stop] = compare(plan, pair_columns(coded, left[start:stop], right[start:stop]))
        if progress:
            progress(stop - start)
    return out


def tf_values(plan: Plan, coded: Coded, left: np.ndarray) -> dict[str, np.ndarray]:
    """Term frequency of each pair's (left) value, per term-frequency column."""
    out = {}
    for name in plan.tf_columns:
        codes = coded.codes[name][left]
        tf = np.full(len(codes), np.nan)
        ok = codes >= 0
        tf[ok] = coded.tf[name][codes[ok]]
        out[name] = tf
    return out


RANDOM_PAIRS = 200_000
RANDOM_SEED = 20_241_125


def random_pairs(
    n: int, count: int = RANDOM_PAIRS, seed: int = RANDOM_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible sample of distinct record pairs (by row position), for ``random_levels``."""
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    left = rng.integers(0, n, size=count)
    right = (left + rng.integers(1, n, size=count)) % n  # never the same record
    return left, right


_RANDOM_PRIOR = 50.0  # pseudo-pairs of the default distinct-record profile


def random_levels(plan: Plan, gammas: np.ndarray, n_records: int) -> list[np.ndarray]:
    """How often random record pairs land on each level of each comparison (missing excluded).

    A small file has few distinct pairs, and a sample of them says little: the sample counts
    for at most the number of distinct pairs, blended with the default profile.
    """
    distinct_pairs = n_records * (n_records - 1) / 2
    out = []
    for j, comparison in enumerate(plan.comparisons):
        counts = np.bincount(gammas[:, j], minlength=comparison.n_levels).astype(np.float64)
        counts[0] = 0.0
        seen = counts.sum()
        if seen > distinct_pairs:
            counts *= distinct_pairs / seen
        counts += _RANDOM_PRIOR * prior_probabilities(comparison.n_levels)[1]
        out.append(counts / counts.sum())
    return out


@dataclass
class PatternStats:
    """EM's sufficient statistics: level patterns, their counts, and per pattern the sum of
    log2 term frequency for each term-frequency level (key ``"comparison:level"``)."""

    patterns: np.ndarray
    counts: np.ndarray
    log_tf: dict[str, np.ndarray]


def pattern_stats(plan: Plan, gammas: np.ndarray, tf: Mapping[str, np.ndarray]) -> PatternStats:
    n_levels = [c.n_levels for c in plan.comparisons]
    patterns, counts, inverse = pattern_counts(gammas, n_levels)
    log_tf: dict[str, np.ndarray] = {}
    for j, comparison in enumerate(plan.comparisons):
        for level_index, level in enumerate(comparison.levels):
            if not level.tf:
                continue
            at = gammas[:, j] == level_index
            values = np.where(at, np.log2(np.nan_to_num(tf[level.tf], nan=1.0)), 0.0)
            log_tf[f"{comparison.name}:{level_index}"] = np.bincount(
                inverse, weights=values, minlength=len(patterns)
            )
    return PatternStats(patterns, counts, log_tf)


def fit(plan: Plan, stats: PatternStats, random: Sequence[np.ndarray] | None = None) -> Model:
    """Estimate the model from pattern statistics; set term-frequency references.

    The reference for a level is the geometric-mean term frequency among the *distinct*
    (non-duplicate) pairs at that level, so term-frequency adjustment is neutral on average
    for distinct pairs and rewards agreement on values rarer than usual.
    """
    names = [c.name for c in plan.comparisons]
    n_levels = [c.n_levels for c in plan.comparisons]
    model, posterior = estimate(
        names,
        n_levels,
        stats.patterns,
        stats.counts,
        identity=plan.identity,
        random_levels=random,
        personal=[c.personal for c in plan.comparisons],
    )
    distinct = (1.0 - posterior) * stats.counts
    for key, sums in stats.log_tf.items():
        j = names.index(key.split(":")[0])
        level = int(key.split(":")[1])
        at = stats.patterns[:, j] == level
        weight = float(distinct[at].sum())
        if weight <= 0:
            continue
        mean_log = float((sums[at] * (1.0 - posterior[at])).sum()) / weight
        model.tf_ref[key] = float(2.0**mean_log)
    return model


def weigh(
    plan: Plan, model: Model, gammas: np.ndarray, tf: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-comparison weights in bits (term-frequency adjusted) and the match probability."""
    weights = model.weights(gammas)
    log_odds = model.log_odds(gammas)
    for j, comparison in enumerate(plan.comparisons):
        for level_index, level in enumerate(comparison.levels):
            if not level.tf:
                continue
            at = np.flatnonzero(gammas[:, j] == level_index)
            if len(at):
                bits = model.tf_adjustment(comparison.name, level_index, tf[level.tf][at])
                weights[at, j] += bits
                log_odds[at] += bits
    return weights, model.probability(log_odds)
