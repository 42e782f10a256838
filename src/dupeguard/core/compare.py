"""Comparisons: small declarative objects that turn a pair of values into a level.

A comparison lists its ordered levels, strongest first. Level 0 is always *missing* (a value is
absent on either side: missing is not a mismatch) and the last level is always *else* (the values
disagree). Evaluation is vectorised over many pairs at once: values arrive as integer codes into a
shared array of distinct values (:class:`PairColumn`), so equality is an integer comparison and a
fuzzy score is computed once per distinct pair of values, not once per pair of records.

Every similarity function has one signature, ``(a, b) -> float in [0, 1]`` (rapidfuzz style), so
they are interchangeable; the batch form is :func:`pair_similarity`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from .errors import ConfigError

__all__ = [
    "SIMILARITY",
    "Comparison",
    "Level",
    "NumericColumn",
    "PairColumn",
    "factorize",
    "pair_similarity",
]

Scorer = Callable[..., float]


def _jaro_winkler(a: str, b: str, **kw: object) -> float:
    return float(JaroWinkler.normalized_similarity(a, b))


def _levenshtein(a: str, b: str, **kw: object) -> float:
    return float(Levenshtein.normalized_similarity(a, b))


def _token_set(a: str, b: str, **kw: object) -> float:
    return float(fuzz.token_set_ratio(a, b)) / 100.0


def _token_sort(a: str, b: str, **kw: object) -> float:
    return float(fuzz.token_sort_ratio(a, b)) / 100.0


#: The similarity functions a level may name; each maps two strings to [0, 1].
SIMILARITY: Mapping[str, tuple[Scorer, Scorer, float]] = {
    # name: (scalar function, rapidfuzz batch scorer, batch scale)
    "jaro_winkler": (_jaro_winkler, JaroWinkler.normalized_similarity, 1.0),
    "levenshtein": (_levenshtein, Levenshtein.normalized_similarity, 1.0),
    "token_set": (_token_set, fuzz.token_set_ratio, 100.0),
    "token_sort": (_token_sort, fuzz.token_sort_ratio, 100.0),
}


@dataclass(slots=True)
class PairColumn:
    """One string attribute of many pairs: codes into ``values`` for each side (-1 = null)."""

    left: np.ndarray
    right: np.ndarray
    values: np.ndarray  # object array of distinct strings

    @classmethod
    def from_series(cls, left: pl.Series, right: pl.Series) -> PairColumn:
        """Factorise two aligned string series into one shared dictionary (sorted values)."""
        (codes_l, codes_r), values = factorize([left, right])
        return cls(codes_l, codes_r, values)

    @property
    def missing(self) -> np.ndarray:
        return (self.left < 0) | (self.right < 0)

    def equal(self) -> np.ndarray:
        return (self.left == self.right) & (self.left >= 0)


@dataclass(slots=True)
class NumericColumn:
    """One numeric attribute (numbers, or dates as day numbers) of many pairs; NaN = null."""

    left: np.ndarray
    right: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.left) | np.isnan(self.right)


def factorize(series: Sequence[pl.Series]) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes (int32, -1 for null) of several string series into one shared dictionary.

    The dictionary lists the distinct values in order of first appearance (hash-based, so
    factorising a million strings takes tens of milliseconds).
    """
    both = pl.concat([s.cast(pl.String) for s in series])
    distinct = both.drop_nulls().unique(maintain_order=True)
    codes = both.cast(pl.Enum(distinct)).to_physical().cast(pl.Int32).fill_null(-1).to_numpy()
    values = distinct.to_numpy().astype(object)
    out, start = [], 0
    for s in series:
        out.append(codes[start : start + len(s)])
        start += len(s)
    return out, values


def pair_similarity(
    column: PairColumn, rows: np.ndarray, method: str, *, cutoff: float | None = None
) -> np.ndarray:
    """Similarity in [0, 1] for the given rows (both sides non-null).

    Scores below ``cutoff`` may be returned as 0 (rapidfuzz can then stop early). When values
    repeat a lot (cities, companies), each distinct pair of values is scored once.
    """
    if method not in SIMILARITY:
        raise ConfigError(f"unknown similarity {method!r}: choose one of {sorted(SIMILARITY)}")
    out = np.zeros(len(rows), dtype=np.float64)
    if len(rows) == 0:
        return out
    _, batch, scale = SIMILARITY[method]
    kwargs: dict[str, Any] = {} if cutoff is None else {"score_cutoff": cutoff * scale}
    left, right = column.left[rows], column.right[rows]
    if len(column.values) * 8 < len(rows):
        width = len(column.values) + 1
        keys = np.minimum(left, right).astype(np.int64) * width + np.maximum(left, right)
        inverse = pl.Series(keys).rank("dense").to_numpy().astype(np.int64) - 1
        _, first = np.unique(inverse, return_index=True)
        left, right = left[first], right[first]
    else:
        inverse = None
    scores = process.cpdist(
        column.values[left].tolist(),
        column.values[right].tolist(),
        scorer=batch,
        workers=-1,
        **kwargs,
    )
    values = np.asarray(scores, dtype=np.float64) / scale
    out[:] = values if inverse is None else values[inverse]
    return out


# --------------------------------------------------------------------------------------------
# Levels and comparisons


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a comparison.

    ``phrase`` feeds the one-sentence reason; ``fields`` says which fields agree at this level
    (default: all of the comparison's fields); ``tf`` names the prepared column whose term
    frequency adjusts this level's weight (agreeing on a rare value says more).
    """

    name: str
    phrase: str = ""
    fields: tuple[str, ...] | None = None
    tf: str | None = None


MISSING = Level("missing")
ELSE = Level("else", "different")


@dataclass(frozen=True)
class Comparison:
    """A field comparison: ordered levels plus the vectorised rule that assigns them.

    ``assign`` receives the pairs' columns (keyed by prepared column name) and returns, for each
    declared agreement level in order, a boolean mask; the first true mask wins, no mask means
    *else*, and a missing input means *missing*.
    """

    name: str
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    levels: tuple[Level, ...]
    assign: Callable[[Mapping[str, PairColumn | NumericColumn]], Sequence[np.ndarray]]
    missing_when: Callable[[Mapping[str, PairColumn | NumericColumn]], np.ndarray] | None = None
    label: str = ""
    detail: str | None = field(default=None)  # column whose values are quoted in the reason
    personal: bool = False  # one person's own (e-mail, birth date, identifier), never shared

    def __post_init__(self) -> None:
        if not self.name or not self.fields or not self.columns:
            raise ConfigError("a comparison needs a name, its fields and its columns")
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names) or not names:
            raise ConfigError(f"comparison {self.name!r}: level names must be unique and non-empty")
        if self.levels[0] != MISSING or self.levels[-1] != ELSE:
            raise ConfigError(f"comparison {self.name!r}: levels must run missing … else")
        for level in self.levels:
            if level.fields and not set(level.fields) <= set(self.fields):
                raise ConfigError(
                    f"comparison {self.name!r}: level {level.name!r} names unknown fields"
                )

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def evaluate(self, columns: Mapping[str, PairColumn | NumericColumn]) -> np.ndarray:
        """Level index (int8) of every pair."""
        first = columns[self.columns[0]]
        n = len(first.left)
        out = np.full(n, self.n_levels - 1, dtype=np.int8)
        masks = self.assign(columns)
        if len(masks) != self.n_levels - 2:
            raise ConfigError(f"comparison {self.name!r}: assign gave {len(masks)} masks")
        decided = np.zeros(n, dtype=bool)
        for index, mask in enumerate(masks, start=1):
            hit = mask & ~decided
            out[hit] = index
            decided |= hit
        missing = (
            self.missing_when(columns)
            if self.missing_when is not None
            else np.logical_or.reduce([columns[c].missing for c in self.columns])
        )
        out[missing] = 0
        return out

    def level_fields(self, index: int) -> tuple[str, ...]:
        return self.levels[index].fields or self.fields
