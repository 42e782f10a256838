"""Column-wise field checks (``values.clean_rows``) equal the row-wise ones (``clean_for_fields``):
the same cleaned values, and for a bad row the same first error, message and details."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupeguard.core.errors import ValidationError
from dupeguard.core.fields import FieldType
from dupeguard.services.records import MAX_VALUE
from dupeguard.services.values import FieldDef, clean_for_fields, clean_rows

FIELDS = {
    f.name: f
    for f in (
        FieldDef("name", FieldType.TEXT),
        FieldDef("notes", FieldType.LONG_TEXT),
        FieldDef("email", FieldType.EMAIL),
        FieldDef("phone", FieldType.PHONE),
        FieldDef("site", FieldType.URL),
        FieldDef("amount", FieldType.NUMBER),
        FieldDef("born", FieldType.DATE),
        FieldDef("vip", FieldType.BOOLEAN),
        FieldDef("stage", FieldType.SINGLE_SELECT, ("Lead", "Won")),
        FieldDef("kind", FieldType.SINGLE_SELECT),
        FieldDef("labels", FieldType.MULTI_SELECT, ("a", "B")),
    )
}
SPACES = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())

texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=SPACES + "\x00ab\u200b", max_size=6),  # Python's white space, NUL
    st.sampled_from(["", " ", "\x1c", "\x85", "\u3000x", "a\x00", "x" * (MAX_VALUE + 1)]),
    st.just("\ud800"),  # a lone surrogate (JSON can carry one; polars cannot hold it)
)
numbers_as_text = st.text(alphabet="0123456789" * 3 + ",.$€£-−+()kKmMbB USD'\u00a0e% ", max_size=14)
dates_as_text = st.builds(
    lambda fmt, y, m, d: fmt.format(y=y, m=m, d=d),
    st.sampled_from(
        [
            "{y}-{m:02d}-{d:02d}",
            "{m}/{d}/{y}",
            "{d:02d}.{m:02d}.{y}",
            "{d} March {y}",
            " {y}-{m}-{d} ",
            "{y}{m:02d}{d:02d}",
        ]
    ),
    st.integers(0, 10_000),
    st.integers(0, 13),
    st.integers(0, 32),
)
others = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.sampled_from(["yes", "No", " 1 ", "off", "lead", "WON", "lost", "a;b", "b; a ;"]),
)
values = st.one_of(texts, numbers_as_text, dates_as_text, others)
names = st.one_of(st.sampled_from([*FIELDS, "unknown", "Bad-Name"]))


def _same(expected: Any, got: Any) -> None:
    if isinstance(expected, ValidationError):
        assert isinstance(got, ValidationError), (expected, got)
        assert (got.code, got.message, got.details) == (
            expected.code,
            expected.message,
            expected.details,
        )
    else:
        assert got == expected
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
        assert list(got) == list(expected)


def _row_wise(data: dict[str, Any]) -> dict[str, Any] | ValidationError:
    try:
        return clean_for_fields(data, FIELDS, entity="contact")
    except ValidationError as exc:
        return exc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layouts=st.lists(st.lists(names, min_size=1, max_size=6, unique=True), min_size=1, max_size=3),
    cells=st.lists(st.lists(values, min_size=6, max_size=6), min_size=64, max_size=160),
    pick=st.lists(st.integers(0, 2), min_size=160, max_size=160),
)
def test_column_wise_equals_row_wise(
    layouts: list[list[str]], cells: list[list[Any]], pick: list[int]
) -> None:
    rows = []
    for i, row in enumerate(cells):
        layout = layouts[pick[i] % len(layouts)]
        rows.append(dict(zip(layout, row, strict=False)))
    got = clean_rows(rows, FIELDS, entity="contact")
    assert len(got) == len(rows)
    for data, result in zip(rows, got, strict=True):
        _same(_row_wise(data), result)


@pytest.mark.parametrize(
    ("column", "cells"),
    [
        ("amount", ["1,200", "$1.5M", "(5)", "abc", "", " ", "1e5", 3, 2.5, True, "-0", "0.10"]),
        ("born", ["2024-03-05", "03/05/2024", "5 March 2024", "2024-02-30", "24-1-1", "", 7]),
        ("name", ["Ada", " ", "\x1c", "a\x00b", "x" * (MAX_VALUE + 1), 12, ["l"], None]),
        ("name", ["Ada", "\x1c", "\ud800", "a\ud800", " "]),
        ("stage", ["lead", "Won", "lost", "", 3]),
        ("vip", ["yes", "N", "maybe", True, 0, ""]),
        ("labels", ["a;b", "b", ["A", "x"], "", []]),
        ("unknown", ["x", None]),
    ],
)
def test_each_type_in_a_large_column(column: str, cells: list[Any]) -> None:
    rows = [{"name": "Ada", column: cells[i % len(cells)]} for i in range(200)]
    got = clean_rows(rows, FIELDS, entity="contact")
    for data, result in zip(rows, got, strict=True):
        _same(_row_wise(data), result)


def test_first_error_follows_each_rows_field_order() -> None:
    rows = [{"amount": "abc", "born": "nope"}] * 70 + [{"born": "nope", "amount": "abc"}] * 70
    got = clean_rows(rows, FIELDS, entity="contact")
    assert {r.message for r in got[:70] if isinstance(r, ValidationError)} == {
        "data.amount: 'abc' is not a number"
    }
    assert {r.message for r in got[70:] if isinstance(r, ValidationError)} == {
        "data.born: 'nope' is not a date (use YYYY-MM-DD)"
    }
