"""Fuzzed with hypothesis (bounded examples): the CSV readers and the phone, e-mail and name
normalisers never crash or hang on arbitrary text, and every CSV writer neutralises cells a
spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupeguard.core.errors import DupeguardError
from dupeguard.core.names import normalize_person_name
from dupeguard.core.normalize import normalize_email
from dupeguard.core.phones import normalize_phone
from dupeguard.engine.io import write_table
from dupeguard.services.import_csv import csv_line, inspect, iter_rows

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RISKY = ("=", "+", "-", "@", "\t", "\r")

# text that looks like the real thing part of the time, and like anything the rest
_hostile = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="+-()0123456789 .xext#*@=\u0660\u06f1\uff10", max_size=60),
    st.from_regex(r"[A-Za-z0-9.+_\-\u00e9\u0301]{0,30}@[A-Za-z0-9.\-]{0,30}", fullmatch=True),
    st.just("9" * 10_000),
    st.just("@" * 5_000),
)


def _quick(fn, *args):
    started = time.monotonic()
    result = fn(*args)
    assert time.monotonic() - started < 2.0, f"{fn.__name__} took too long on {args!r:.80}"
    return result


@FUZZ
@given(_hostile, st.sampled_from(["US", "GB", "DE", "IN", "BR"]))
def test_normalize_phone_never_crashes(text: str, region: str) -> None:
    out = _quick(normalize_phone, text, region)
    assert out is None or (out.startswith("+") and out[1:].isdigit())


@FUZZ
@given(_hostile)
def test_normalize_email_never_crashes(text: str) -> None:
    out = _quick(normalize_email, text)
    assert out is None or isinstance(out, str)


@FUZZ
@given(_hostile)
def test_normalize_person_name_never_crashes(text: str) -> None:
    out = _quick(normalize_person_name, text)
    assert out is None or isinstance(out, str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_the_import_csv_reader_accepts_or_refuses_cleanly(content: bytes) -> None:
    """Any bytes: a CsvFile, or a DupeguardError (one clear validation message)."""
    try:
        found = _quick(inspect, content)
    except DupeguardError as exc:
        assert exc.message
        return
    rows = list(iter_rows(content))
    assert len(rows) == found.row_count
    assert all(len(cells) <= len(found.columns) or cells for _, cells in rows)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=20))
def test_the_scan_reader_accepts_or_refuses_cleanly(tmp_path: Path, cells: list[str]) -> None:
    from dupeguard.engine.io import read_table

    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name"])
        for i, cell in enumerate(cells):
            writer.writerow([str(i), cell])
    try:
        frame = _quick(read_table, path)
    except DupeguardError as exc:
        assert exc.message
        return
    assert frame.height <= len(cells)


_cell = st.one_of(
    st.sampled_from(RISKY).flatmap(lambda c: st.text(max_size=20).map(c.__add__)),
    st.text(max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_cell, min_size=1, max_size=10))
def test_import_report_lines_neutralise_formulas(cells: list[str]) -> None:
    (row,) = list(csv.reader(io.StringIO(csv_line(cells), newline="")))
    assert len(row) == len(cells)
    for written, original in zip(row, cells, strict=True):
        assert not written.startswith(RISKY)
        assert written in (original, "'" + original)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_cell, min_size=1, max_size=10))
def test_scan_csv_output_neutralises_formulas(tmp_path: Path, cells: list[str]) -> None:
    """The pairs and clusters files of ``dupeguard scan`` (engine.io.write_table), with
    string and list columns (matched_fields is a list)."""
    frame = pl.DataFrame(
        {
            "primary_id": cells,
            "duplicate_id": list(reversed(cells)),
            "similarity": [0.5] * len(cells),
            "matched_fields": [[c, "email"] for c in cells],
            "reason": cells,
        }
    )
    out = tmp_path / "pairs.csv"
    write_table(frame, out, "csv")
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(cells) + 1
    assert not [c for row in rows for c in row if c.startswith(RISKY)]
