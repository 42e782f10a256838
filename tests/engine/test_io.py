"""Tests for dupeguard.engine.io: reading scan inputs and writing scan results."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import polars as pl
import pytest

from dupeguard.core.errors import ConfigError, InputError
from dupeguard.engine.io import infer_format, read_table, write_table


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(InputError) as info:
        read_table(path, **kwargs)  # type: ignore[arg-type]
    message = info.value.message
    assert str(path) in message
    assert "\n" not in message
    return message


# --- reading ------------------------------------------------------------------------------


def test_csv_all_strings_bom_trimmed_headers_and_blank_cells(tmp_path: Path) -> None:
    p = _write(tmp_path, "c.csv", b'\xef\xbb\xbf id , zip ,note\n1,007,"a\nb"\n2,  ,\n3,1.0," "\n')
    df = read_table(p)
    assert df.columns == ["id", "zip", "note"]
    assert df.schema == {"id": pl.String, "zip": pl.String, "note": pl.String}
    assert df.rows() == [("1", "007", "a\nb"), ("2", None, None), ("3", "1.0", None)]


def test_tsv_semicolon_gzip_and_crlf(tmp_path: Path) -> None:
    expected = [("1", "x"), ("2", "y")]
    assert read_table(_write(tmp_path, "t.tsv", "id\tname\n1\tx\n2\ty\n")).rows() == expected
    assert read_table(_write(tmp_path, "s.csv", "id;name\r\n1;x\r\n2;y\r\n")).rows() == expected
    gz = _write(tmp_path, "g.csv.gz", gzip.compress(b"id,name\n1,x\n2,y\n"))
    assert read_table(gz).rows() == expected
    assert read_table(_write(tmp_path, "blank.csv", "id,name\n1,x\n\n2,y\n\n")).rows() == expected


def test_parquet_values_become_text(tmp_path: Path) -> None:
    p = tmp_path / "p.parquet"
    pl.DataFrame(
        {
            "id": [1, 2],
            "score": [3.0, 2.5],
            "born": [dt.date(1990, 1, 2), None],
            "seen": [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 250000)],
            "ok": [True, False],
            "tags": [["a", "b"], None],
        }
    ).write_parquet(p)
    df = read_table(p)
    assert all(t == pl.String for t in df.schema.values())
    assert df.rows() == [
        ("1", "3", "1990-01-02", "2024-01-02T03:04:05", "true", '["a","b"]'),
        ("2", "2.5", None, "2024-01-02T03:04:05.250", "false", None),
    ]


def test_jsonl_mixed_types_and_bom(tmp_path: Path) -> None:
    lines = ['{"id": 1, "zip": 12345, "x": 1.5}', "", '{"id": 2, "zip": "01234", "x": null}']
    p = _write(tmp_path, "j.ndjson", b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    assert read_table(p).rows() == [("1", "12345", "1.5"), ("2", "01234", None)]


@pytest.mark.parametrize(
    ("name", "data", "fmt", "expected"),
    [
        ("a.dat", b"id,n\n1,x\n", None, [("1", "x")]),
        ("b.dat", b'  {"id": "1", "n": "x"}\n', None, [("1", "x")]),
        ("c.txt", b"id,n\n1,x\n", "csv", [("1", "x")]),
    ],
)
def test_sniffing_and_explicit_format(
    tmp_path: Path, name: str, data: bytes, fmt: str | None, expected: list[tuple[str, ...]]
) -> None:
    assert read_table(_write(tmp_path, name, data), fmt=fmt).rows() == expected


def test_sniff_parquet_without_extension(tmp_path: Path) -> None:
    p = tmp_path / "export"
    pl.DataFrame({"id": ["a"]}).write_parquet(p)
    assert read_table(p).rows() == [("a",)]


def test_synthesised_ids(tmp_path: Path) -> None:
    df = read_table(_write(tmp_path, "n.csv", "name\nx\ny\nz\n"), id_column=None)
    assert df.rows() == [("1", "x"), ("2", "y"), ("3", "z")]


def test_custom_id_column(tmp_path: Path) -> None:
    df = read_table(_write(tmp_path, "c.csv", "Record ID,name\nA,x\nB,y\n"), id_column="Record ID")
    assert df["Record ID"].to_list() == ["A", "B"]


# --- reading errors ------------------------------------------------------------------------


def test_missing_directory_and_empty(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.csv")
    assert "directory" in _error(tmp_path)
    assert "empty" in _error(_write(tmp_path, "e.csv", b""))
    assert "empty" in _error(_write(tmp_path, "w.csv", b"\xef\xbb\xbf\n\n"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable(tmp_path: Path) -> None:
    p = _write(tmp_path, "locked.csv", "id\n1\n")
    p.chmod(0)
    try:
        assert "permission denied" in _error(p)
    finally:
        p.chmod(0o644)


def test_unreadable_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(tmp_path, "locked.csv", "id\n1\n")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    assert "permission denied" in _error(p)


@pytest.mark.parametrize(
    ("name", "data"),
    [("h.csv", "id,name\n"), ("h.jsonl", "\n\n"), ("h.parquet", None)],
)
def test_no_rows(tmp_path: Path, name: str, data: str | None) -> None:
    if data is None:
        p = tmp_path / name
        pl.DataFrame({"id": []}, schema={"id": pl.String}).write_parquet(p)
    else:
        p = _write(tmp_path, name, data)
    assert "has no rows" in _error(p)


def test_undecodable_names_the_line(tmp_path: Path) -> None:
    body = b"id,name\n" + b"".join(b"%d,x\n" % i for i in range(1, 50_000)) + b"50000,M\xfcller\n"
    msg = _error(_write(tmp_path, "latin1.csv", body))
    assert "UTF-8" in msg and "line 50001" in msg
    assert "UTF-16" in _error(_write(tmp_path, "u16.csv", "id\n1\n".encode("utf-16")))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("id,a,b\n1,x,y\n2,x\n3,x,y\n", ["line 3", "2 field(s)", "header has 3"]),
        ('id,a,b\n1,"x\ny",z\n2,x,y,z\n', ["line 4", "4 field(s)", "header has 3"]),
        ('id,a\n1,x\n2,"unclosed\n3,z\n', ["line 3", "quoted"]),
        ('"id,a\n1,x\n', ["line 1", "quoted"]),
        ("id,a\n1,x\n   \n2,y\n", ["line 3", "1 field(s)"]),
    ],
)
def test_ragged_rows_and_broken_quotes(tmp_path: Path, data: str, words: list[str]) -> None:
    msg = _error(_write(tmp_path, "r.csv", data))
    for word in words:
        assert word in msg


def test_duplicate_column_names(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "d.csv", "id,email, email\n1,a,b\n"))
    assert "duplicate column" in msg and "'email'" in msg


def test_missing_id_column_lists_columns(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "m.csv", "ID,name\n1,x\n"))
    assert "'id'" in msg and "'name'" in msg and "--id-column" in msg and "did you mean 'ID'" in msg
    wide = ",".join(f"c{i}" for i in range(40))
    msg = _error(_write(tmp_path, "w.csv", f"{wide}\n{wide}\n"))
    assert "and 28 more" in msg and "'c39'" not in msg


def test_synthesised_id_clashes_with_existing_column(tmp_path: Path) -> None:
    assert "'id'" in _error(_write(tmp_path, "i.csv", "id\n1\n"), id_column=None)


def test_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_table(_write(tmp_path, "d.csv", "id\n1\n7\n2\n7\n3\n7\n2\n"))
    msg = info.value.message
    assert "duplicate ids" in msg and "'7' appears 3 times" in msg and "2 distinct id(s)" in msg
    assert info.value.details == {"first_duplicate": "7", "duplicated_ids": 2}


def test_empty_ids(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "e.csv", "id,name\n1,x\n  ,y\n,z\n"))
    assert "2 row(s)" in msg and "empty 'id'" in msg and "row 2" in msg


def test_corrupt_parquet(tmp_path: Path) -> None:
    assert "Parquet" in _error(_write(tmp_path, "c.parquet", b"PAR1 this is not parquet PAR1"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ('{"id": 1}\n{"id": 2\n{"id": 3}\n', ["invalid JSON", "line 2"]),
        ('{"id": 1}\n\n[1, 2]\n', ["line 3", "not a JSON object"]),
        ('{"id": 1, "x": NaN}\n', ["invalid JSON", "line 1"]),
    ],
)
def test_bad_jsonl(tmp_path: Path, data: str, words: list[str]) -> None:
    msg = _error(_write(tmp_path, "b.jsonl", data))
    for word in words:
        assert word in msg


def test_json_array_and_unknown_format(tmp_path: Path) -> None:
    assert "JSON array" in _error(_write(tmp_path, "a.json", '[{"id": 1}]'))
    with pytest.raises(ConfigError, match="xml"):
        read_table(_write(tmp_path, "x.csv", "id\n1\n"), fmt="xml")


# --- writing -------------------------------------------------------------------------------


def _pairs() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "primary_id": ["-5", "a"],
            "duplicate_id": ["=cmd()", "b"],
            "similarity": [-12.5, 0.9],
            "matched_fields": [["email", "@name"], []],
            "reason": ["+1 match\tok", "\tx"],
        }
    )


def test_csv_neutralises_formulas_only_in_text(tmp_path: Path) -> None:
    p = tmp_path / "out.csv"
    write_table(_pairs(), p, "csv")
    assert p.read_text().splitlines() == [
        "primary_id,duplicate_id,similarity,matched_fields,reason",
        "'-5,'=cmd(),-12.5,email;@name,'+1 match\tok",
        'a,b,0.9,"",\'\tx',
    ]


def test_json_and_jsonl_keep_lists(tmp_path: Path) -> None:
    write_table(_pairs(), tmp_path / "o.json", "json")
    rows = json.loads((tmp_path / "o.json").read_text())
    assert rows[0]["matched_fields"] == ["email", "@name"] and rows[0]["primary_id"] == "-5"
    write_table(_pairs(), tmp_path / "o.jsonl", "jsonl")
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    write_table(pl.DataFrame({"a": ["x"], "b": [1]}), None, "csv")
    assert capsysbinary.readouterr().out == b"a,b\nx,1\n"
    write_table(pl.DataFrame({"a": ["x"]}).head(0), "-", "json")
    assert capsysbinary.readouterr().out == b"[]\n"


def test_round_trips_through_every_format(tmp_path: Path) -> None:
    df = pl.DataFrame({"id": ["1", "2"], "name": ["Ann", None], "zip": ["007", "10"]})
    for fmt in ("csv", "jsonl"):
        write_table(df, tmp_path / f"r.{fmt}", fmt)
        assert read_table(tmp_path / f"r.{fmt}").equals(df)
    df.write_parquet(tmp_path / "r.parquet")
    assert read_table(tmp_path / "r.parquet").equals(df)


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Cannot write"):
        write_table(_pairs(), tmp_path / "missing" / "o.csv", "csv")
    with pytest.raises(ConfigError, match="xml"):
        write_table(_pairs(), tmp_path / "o.xml", "xml")


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        (None, None, "csv"),
        ("-", None, "csv"),
        ("pairs.JSON", None, "json"),
        ("pairs.ndjson", None, "jsonl"),
        ("pairs.jsonl", "csv", "csv"),
        ("pairs.txt", None, "csv"),
    ],
)
def test_infer_format(path: str | None, explicit: str | None, expected: str) -> None:
    assert infer_format(path, explicit) == expected


def test_infer_format_rejects_parquet_and_unknown() -> None:
    with pytest.raises(ConfigError):
        infer_format("pairs.parquet", None)
    with pytest.raises(ConfigError):
        infer_format(None, "yaml")
