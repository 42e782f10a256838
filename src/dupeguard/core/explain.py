"""Explanations: which fields raised a pair's score, and one plain sentence saying why.

``matched_fields`` lists the fields of every comparison whose level added evidence (positive
weight), strongest first. ``reason`` names the (up to) three strongest agreements and, when one
comparison argued clearly against the match, says so: "Same email address and nearly identical
names (Jon Smith ~ John Smith), but different phone numbers."

Sentences are built once per distinct explanation shape; quoting values is vectorised, so
explaining a million pairs costs a few column operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from .compare import Comparison

__all__ = ["explain", "explain_frame"]

_TOP = 3
_AGAINST_BITS = -3.0  # a comparison this far below zero is worth mentioning


def explain(
    comparisons: Sequence[Comparison],
    gammas: np.ndarray,
    weights: np.ndarray,
    details: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[list[list[str]], list[str]]:
    """Matched fields and reason for every pair.

    ``weights`` are each comparison's bits for each pair (term-frequency adjusted);
    ``details`` maps a comparison's ``detail`` key to the left and right display values that a
    fuzzy level quotes, e.g. ``"(Jon Smith ~ John Smith)"``.
    """
    fields, reasons = explain_frame(comparisons, gammas, weights, details)
    return fields.to_list(), reasons.to_list()


def explain_frame(
    comparisons: Sequence[Comparison],
    gammas: np.ndarray,
    weights: np.ndarray,
    details: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[pl.Series, pl.Series]:
    """:func:`explain` as two polars series (``matched_fields``, ``reason``)."""
    n, k = gammas.shape
    if n == 0:
        return pl.Series("matched_fields", [], pl.List(pl.String)), pl.Series(
            "reason", [], pl.String
        )
    else_level = np.array([c.n_levels - 1 for c in comparisons])
    agrees = (weights > 0) & (gammas != 0) & (gammas != else_level)
    against = (weights <= _AGAINST_BITS) & (gammas != 0)
    order = np.argsort(-weights, axis=1, kind="stable")
    ordered_levels = np.take_along_axis(gammas, order, axis=1).astype(np.int64)
    ordered_agree = np.take_along_axis(agrees, order, axis=1)
    worst = np.argmin(weights, axis=1)
    worst_flag = against[np.arange(n), worst]
    key = np.column_stack(
        [
            np.where(ordered_agree, order, -1),
            np.where(ordered_agree, ordered_levels, -1),
            np.where(worst_flag, worst, -1),
        ]
    ).astype(np.int16)
    inverse = (
        pl.DataFrame(key, orient="row")
        .select(pl.struct(pl.all()).rank("dense").alias("r"))["r"]
        .to_numpy()
        .astype(np.int64)
        - 1
    )
    _, first = np.unique(inverse, return_index=True)
    shapes = [_shape(comparisons, key[i], k) for i in first]
    index = pl.Series(inverse)
    matched = pl.Series("matched_fields", [s[0] for s in shapes], pl.List(pl.String))[index]
    frame = pl.DataFrame({"reason": pl.Series([s[1] for s in shapes], dtype=pl.String)[index]})
    for detail in sorted({d for s in shapes for d in s[2]}):
        left, right = (details or {}).get(detail, (np.full(n, None), np.full(n, None)))
        quoted = pl.DataFrame(
            {"l": pl.Series(left, dtype=pl.String), "r": pl.Series(right, dtype=pl.String)}
        ).select(
            pl.when(
                pl.col("l").is_not_null() & pl.col("r").is_not_null() & (pl.col("l") != pl.col("r"))
            )
            .then(pl.format(" ({} ~ {})", pl.col("l"), pl.col("r")))
            .otherwise(pl.lit(""))
            .alias("q")
        )["q"]
        frame = frame.with_columns(
            pl.col("reason").str.replace(_placeholder(detail), pl.lit(quoted), literal=True)
        )
    return matched, frame["reason"].rename("reason")


def _placeholder(detail: str) -> str:
    return f"\x00{detail}\x00"


def _shape(
    comparisons: Sequence[Comparison], row: np.ndarray, k: int
) -> tuple[list[str], str, list[str]]:
    order, levels, worst = row[:k], row[k : 2 * k], int(row[2 * k])
    matched: list[str] = []
    phrases: list[str] = []
    detail_keys: list[str] = []
    for c_index, level in zip(order.tolist(), levels.tolist(), strict=True):
        if c_index < 0:
            continue
        comparison = comparisons[c_index]
        for f in comparison.level_fields(level):
            if f not in matched:
                matched.append(f)
        if len(phrases) < _TOP:
            phrase = comparison.levels[level].phrase
            if "{detail}" in phrase:
                detail = comparison.detail or comparison.name
                detail_keys.append(detail)
                phrase = phrase.replace(" {detail}", _placeholder(detail))
            phrases.append(phrase)
    sentence = _join(phrases) if phrases else "no field agrees strongly"
    if worst >= 0:
        sentence += ", but different " + _plural(
            comparisons[worst].label or comparisons[worst].name
        )
    return matched, sentence[:1].upper() + sentence[1:] + ".", detail_keys


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _plural(label: str) -> str:
    if label.endswith("y") and not label.endswith("ey"):
        return label[:-1] + "ies"
    if label.endswith(("s", "x", "sh", "ch")):
        return label + "es"
    return label + "s"
