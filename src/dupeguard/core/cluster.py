"""Duplicate record sets: connected components of the matched pairs, and primary records.

The primary record of a pair or a set is the most complete record (most non-empty compared
fields), then the oldest (earliest ``created_at``; records without one count as newest), then the
one with the smallest id (so the answer does not depend on the order of the input).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["components", "primary_flags", "primary_rank"]


def primary_rank(
    completeness: np.ndarray, created: np.ndarray, ids: np.ndarray | None = None
) -> np.ndarray:
    """Rank of every record (0 = best primary): most complete, then oldest, then smallest id.

    ``created`` holds sortable numbers (NaN when unknown); without ``ids``, input order decides.
    """
    n = len(completeness)
    created = np.where(np.isnan(created), np.inf, created)
    last = np.arange(n) if ids is None else ids
    order = np.lexsort((last, created, -completeness.astype(np.int64)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def components(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Cluster label of every record (0..n-1) given matched pairs of record indices.

    Records in no pair are singletons. Labels are renumbered densely in record order.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(left), dtype=np.int8), (left.astype(np.int64), right.astype(np.int64))),
        shape=(n, n),
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def primary_flags(labels: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """True for the best-ranked record of each cluster."""
    n = len(labels)
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((rank, labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    flags = np.zeros(n, dtype=bool)
    flags[order[first]] = True
    return flags
