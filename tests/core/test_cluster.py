from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dupeguard.core.cluster import components, primary_flags, primary_rank


def test_components_and_primary() -> None:
    labels = components(np.array([0, 1, 4]), np.array([1, 2, 5]), 7)
    assert labels[0] == labels[1] == labels[2]
    assert labels[4] == labels[5] != labels[0]
    assert len({labels[3], labels[6], labels[0], labels[4]}) == 4
    completeness = np.array([3, 5, 5, 1, 2, 2, 0])
    created = np.array([1.0, 9.0, 2.0, np.nan, np.nan, 5.0, 0.0])
    rank = primary_rank(completeness, created)
    flags = primary_flags(labels, rank)
    # most complete wins (1 and 2 tie at 5 fields), then the oldest (2 created before 1)
    assert flags[2] and not flags[1] and not flags[0]
    # equal completeness; 5 has a creation time and 4 does not
    assert flags[5] and not flags[4]


@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), max_size=40))
def test_every_cluster_has_exactly_one_primary(edges: list[tuple[int, int]]) -> None:
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    labels = components(left, right, 20)
    for a, b in edges:
        assert labels[a] == labels[b]
    flags = primary_flags(labels, primary_rank(np.zeros(20), np.full(20, np.nan)))
    for label in set(labels.tolist()):
        assert flags[labels == label].sum() == 1
