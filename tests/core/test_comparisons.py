"""Comparison levels on normalised values (the seeds' examples included)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dupeguard.core import comparisons as lib
from dupeguard.core.compare import (
    SIMILARITY,
    Comparison,
    Level,
    NumericColumn,
    PairColumn,
    factorize,
    pair_similarity,
)
from dupeguard.core.errors import ConfigError

NICKNAMES = frozenset(
    {("bob", "robert"), ("robert", "bob"), ("bill", "william"), ("william", "bill")}
)


def levels_of(comparison: Comparison, **pairs: tuple[list, list]) -> list[str]:
    """Level names for aligned left/right lists, one list per comparison column."""
    columns = {}
    groups = {}
    for name, (left, right) in pairs.items():
        groups[name] = (pl.Series(left, dtype=pl.String), pl.Series(right, dtype=pl.String))
    # columns of a person name share one dictionary, as the engine codes them
    series = [s for pair in groups.values() for s in pair]
    codes, values = factorize(series)
    for i, name in enumerate(groups):
        columns[name] = PairColumn(codes[2 * i], codes[2 * i + 1], values)
    gammas = comparison.evaluate(columns)
    return [comparison.levels[g].name for g in gammas]


def name_levels(left: list[tuple], right: list[tuple]) -> list[str]:
    comparison = lib.person_name_comparison(nickname_pairs=lambda: NICKNAMES)
    return levels_of(
        comparison,
        first=([a[0] for a in left], [b[0] for b in right]),
        last=([a[1] for a in left], [b[1] for b in right]),
        full=(
            [" ".join(filter(None, a)) for a in left],
            [" ".join(filter(None, b)) for b in right],
        ),
    )


def test_person_name_levels() -> None:
    left = [
        ("john", "smith"),
        ("smith", "john"),
        ("bob", "jones"),
        ("jon", "smith"),
        ("j", "smith"),
        ("mary", "smith"),
        ("mary", "smith"),
        (None, None),
        ("ann", "lee"),
    ]
    right = [
        ("john", "smith"),
        ("john", "smith"),
        ("robert", "jones"),
        ("john", "smith"),
        ("john", "smith"),
        ("peter", "smith"),
        ("maria", "smyth"),
        ("john", "smith"),
        ("bo", "zhang"),
    ]
    assert name_levels(left, right) == [
        "exact",
        "swapped",
        "nickname",
        "fuzzy",
        "initial",
        "last_only",
        "similar",
        "missing",
        "else",
    ]


def test_jon_smith_matches_john_smith_as_nearly_identical() -> None:  # seed 002's example
    assert name_levels([("jon", "smith")], [("john", "smith")]) == ["fuzzy"]


def test_company_acme_corp_and_acronyms() -> None:
    # values are normalised already: "Acme Corp" and "Acme Corporation" both become "acme"
    comparison = lib.company_comparison()
    got = levels_of(
        comparison,
        company=(
            ["acme", "ibm", "international business machines", "acme logistics", "globex"],
            ["acme", "international business machines", "ibm", "acme logistic", "initech"],
        ),
        company_acronym=([None, None, "ibm", "al", None], [None, "ibm", None, "al", None]),
    )
    assert got == ["exact", "acronym", "acronym", "fuzzy", "else"]


def test_email_levels() -> None:
    comparison = lib.email_comparison()
    got = levels_of(
        comparison,
        email=(
            ["jane@acme.com", "jane.doe@acme.com", "janedoe@gmail.com", None, "a@x.com"],
            ["jane@acme.com", "jane.doe@acme.co", "janedoe@acme.com", "x@y.com", "b@z.org"],
        ),
        email_local=(
            ["jane", "jane.doe", "janedoe", None, "a"],
            ["jane", "jane.doe", "janedoe", "x", "b"],
        ),
    )
    assert got == ["exact", "fuzzy", "same_local", "missing", "else"]


def test_phone_levels() -> None:
    comparison = lib.phone_comparison()
    got = levels_of(
        comparison,
        phone=(
            ["+15551234567", "+15551234567", "+15551234567", "+15551234567"],
            ["+15551234567", "+14441234567", "+15551234576", "+15559876543"],
        ),
    )
    assert got == ["exact", "same_local", "typo", "else"]


def test_number_and_date_levels() -> None:
    amount = lib.number_comparison(column="amount", field="amount", label="amount")
    cols = {
        "amount": NumericColumn(
            np.array([100.0, 100.0, 100.0, 100.0, np.nan]),
            np.array([100.0, 100.5, 108.0, 150.0, 1.0]),
        )
    }
    assert [amount.levels[g].name for g in amount.evaluate(cols)] == [
        "exact",
        "close",
        "near",
        "else",
        "missing",
    ]
    date = lib.date_comparison(column="d", field="close_date", label="close date", text_column="dt")
    left_t = ["2024-01-05", "2024-01-05", "2024-01-05", "2024-01-05", "2024-01-05"]
    right_t = ["2024-01-05", "2024-01-06", "2024-05-01", "2024-01-20", "2024-09-30"]
    days = lambda xs: np.array(  # noqa: E731
        [np.datetime64(x).astype("datetime64[D]").astype(float) for x in xs]
    )
    (cl, cr), values = factorize([pl.Series(left_t), pl.Series(right_t)])
    cols2 = {"d": NumericColumn(days(left_t), days(right_t)), "dt": PairColumn(cl, cr, values)}
    assert [date.levels[g].name for g in date.evaluate(cols2)] == [
        "exact",
        "typo",
        "typo",
        "within_31",
        "else",
    ]


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(ConfigError):
        lib.person_name_comparison(fuzzy=1.5)
    with pytest.raises(ConfigError):
        lib.person_name_comparison(fuzzy=0.8, weak=0.9)
    with pytest.raises(ConfigError):
        lib.number_comparison(column="a", field="a", label="a", close=0.2, near=0.1)
    with pytest.raises(ConfigError):
        lib.date_comparison(column="a", field="a", label="a", text_column="b", days=(30, 7))
    with pytest.raises(ConfigError):
        Comparison("x", ("x",), ("x",), (Level("exact"),), assign=lambda c: [])


@given(
    st.lists(st.text(max_size=12), min_size=1, max_size=20),
    st.lists(st.text(max_size=12), min_size=1, max_size=20),
    st.sampled_from(sorted(SIMILARITY)),
)
def test_similarity_is_symmetric_and_bounded(
    left: list[str], right: list[str], method: str
) -> None:
    n = min(len(left), len(right))
    column = PairColumn.from_series(pl.Series(left[:n]), pl.Series(right[:n]))
    flipped = PairColumn(column.right, column.left, column.values)
    rows = np.arange(n)
    a = pair_similarity(column, rows, method)
    b = pair_similarity(flipped, rows, method)
    assert np.allclose(a, b)
    assert ((a >= 0) & (a <= 1)).all()
    scalar = SIMILARITY[method][0]
    for i in range(n):
        assert abs(scalar(left[i], right[i]) - a[i]) < 1e-6


@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=30))
def test_level_assignment_is_symmetric(values: list[str | None]) -> None:
    comparison = lib.text_comparison(column="t", field="t", label="t")
    left, right = values, list(reversed(values))
    assert levels_of(comparison, t=(left, right)) == levels_of(comparison, t=(right, left))
