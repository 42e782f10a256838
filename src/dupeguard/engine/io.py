"""Table input/output for ``dupeguard scan``.

``read_table`` loads CSV/TSV (optionally gzip-compressed), Parquet or JSON Lines into a polars
frame whose columns are all strings, and turns every problem with the file into one
``InputError`` sentence naming the file. CSV is parsed by pyarrow, because polars silently pads
rows that have too few fields; pyarrow reports ragged rows of either kind. Lines are only
located (by a slower Python scan) once a problem is known, so a good file is read once.

Cells that are empty or whitespace-only become null; other values are kept verbatim (no trim).

``write_table`` writes result frames as CSV, a JSON array or JSON Lines. In CSV, list cells are
joined with ``;`` and every string cell starting with ``= + - @``, tab or carriage return gets
a leading ``'`` so spreadsheets do not run it as a formula. Numeric columns are left alone, but
ids are strings, so an id ``-5`` is written as ``'-5``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from dupeguard.core.errors import ConfigError, InputError

__all__ = ["infer_format", "read_table", "write_frames", "write_table"]

_READ_FORMATS = dict(csv="csv", tsv="tsv", tab="tsv", parquet="parquet", pq="parquet")
_READ_FORMATS.update(jsonl="jsonl", ndjson="jsonl")
_WRITE_FORMATS = {"csv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl"}
_BOM = b"\xef\xbb\xbf"
_HEAD = 1 << 16
_LISTED = 12
_ANY_ERROR = (Exception, pl.exceptions.PanicException)  # polars panics are BaseExceptions


def read_table(
    path: str | Path, *, id_column: str | None = "id", fmt: str | None = None
) -> pl.DataFrame:
    """Read a table with every column as string and a unique, non-null id column.

    With ``id_column=None`` a column ``id`` holding the 1-based row numbers is added first.
    """
    p = Path(path)
    head, gz = _probe(p)
    kind = _detect(p, fmt, head)
    if kind == "parquet":
        df = _read_parquet(p)
    elif kind == "jsonl":
        df = _read_jsonl(p, head, gz)
    else:
        df = _read_csv(p, head, gz, "\t" if kind == "tsv" else None)
    return _finish(df, p, id_column)


def _probe(p: Path) -> tuple[bytes, bool]:
    """Check the path is a readable, non-empty file; return its first bytes (decompressed)."""
    if not p.exists():
        raise InputError(f"Input file {p} does not exist.")
    if p.is_dir():
        raise InputError(f"Input path {p} is a directory, not a file.")
    try:
        with p.open("rb") as fh:
            head = fh.read(_HEAD)
    except PermissionError as e:
        raise InputError(f"Input file {p} cannot be read: permission denied.") from e
    except OSError as e:
        raise InputError(f"Input file {p} cannot be read: {e.strerror or e}.") from e
    if not head:
        raise InputError(f"Input file {p} is empty (0 bytes).")
    gz = head[:2] == b"\x1f\x8b"
    if gz:
        try:
            head = zlib.decompressobj(wbits=31).decompress(head)
        except zlib.error as e:
            raise InputError(f"Input file {p} looks gzip-compressed but is corrupt.") from e
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"Input file {p} is UTF-16 encoded; save it as UTF-8 and retry.")
    return head, gz


def _detect(p: Path, fmt: str | None, head: bytes) -> str:
    if fmt:
        kind = _READ_FORMATS.get(fmt.lower().lstrip("."))
        if kind is None:
            raise ConfigError(f"Unknown input format {fmt!r}; use csv, tsv, parquet or jsonl.")
        return kind
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = _READ_FORMATS.get(suffixes[-1].lstrip(".")) if suffixes else None
    if kind:
        return kind
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.removeprefix(_BOM).lstrip()[:1]
    if first == b"[":
        raise InputError(f"Input file {p} is a JSON array; write one JSON object per line.")
    return "jsonl" if first == b"{" else "csv"


def _open(p: Path, gz: bool, mode: str = "rb", **kwargs: Any) -> Any:
    return gzip.open(p, mode, **kwargs) if gz else open(p, mode, **kwargs)


def _read_parquet(p: Path) -> pl.DataFrame:
    try:
        return _as_text(pl.read_parquet(p))
    except _ANY_ERROR as e:
        raise InputError(f"Input file {p} is not a readable Parquet file (corrupt?).") from e


def _read_jsonl(p: Path, head: bytes, gz: bool) -> pl.DataFrame:
    try:
        if head.startswith(_BOM):  # polars rejects a BOM, so hand it the bytes after it
            with _open(p, gz) as fh:
                return _as_text(pl.read_ndjson(fh.read()[3:], infer_schema_length=None))
        return _as_text(pl.read_ndjson(p, infer_schema_length=None))
    except _ANY_ERROR as e:
        _raise_if_not_utf8(p, gz, e)
        rows = 0
        with _open(p, gz, "rt", encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    obj = json.loads(line, parse_constant=_no_nan) if line.strip() else {}
                except ValueError:
                    raise InputError(f"Input file {p} has invalid JSON on line {n}.") from e
                if not isinstance(obj, dict):
                    raise InputError(f"Input file {p} line {n} is not a JSON object.") from e
                rows += bool(line.strip())
        if not rows:
            raise InputError(f"Input file {p} has no rows.") from e
        raise InputError(f"Input file {p} could not be read as JSON Lines ({_first(e)}).") from e


def _no_nan(token: str) -> None:
    raise ValueError(token)


def _read_csv(p: Path, head: bytes, gz: bool, sep: str | None) -> pl.DataFrame:
    text = head.removeprefix(_BOM).decode("utf-8", errors="replace")
    if sep is None:  # the most frequent candidate outside quotes in the first line
        first = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
        sep = max((",", "\t", ";", "|"), key=lambda c: (first.count(c), c == ","))
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    convert = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header}, strings_can_be_null=False
    )
    try:
        with pa.input_stream(str(p), compression="gzip" if gz else None) as src:
            table = pacsv.read_csv(
                src,
                read_options=pacsv.ReadOptions(block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
                convert_options=convert,
            )
    except _ANY_ERROR as e:
        msg = str(e)
        if "Empty CSV" in msg and not text.strip():
            raise InputError(f"Input file {p} is empty.") from e
        _raise_if_not_utf8(p, gz, e)
        _raise_csv_line(p, gz, sep, e)
    names = _check_names(p, table.column_names)
    last = table.slice(table.num_rows - 1).to_pylist()[0].values() if table.num_rows else []
    if any(isinstance(v, str) and v.endswith("\n") for v in last):
        _raise_csv_line(p, gz, sep, None)  # an unclosed quote swallows the rest of the file
    try:  # columns the header sniff missed were type-inferred; binary ones may not be UTF-8
        return _as_text(pl.from_arrow(table.rename_columns(names)))  # type: ignore[arg-type]
    except _ANY_ERROR as e:
        _raise_if_not_utf8(p, gz, e)
        raise InputError(f"Input file {p} could not be converted ({_first(e)}).") from e


def _raise_csv_line(p: Path, gz: bool, sep: str, cause: BaseException | None) -> None:
    """Find the first ragged row or unclosed quote with Python's csv module and raise."""
    with _open(p, gz, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader, prev = csv.reader(fh, delimiter=sep, strict=True), 0
        try:
            width = len(next(reader, []))
            prev = reader.line_num
            for row in reader:
                if row and len(row) != width:
                    raise InputError(
                        f"Input file {p} line {prev + 1} has {len(row)} field(s) but the header "
                        f"has {width}."
                    ) from cause
                prev = reader.line_num
        except csv.Error as e:
            raise InputError(
                f"Input file {p} has a malformed or unclosed quoted value starting on line "
                f"{prev + 1}."
            ) from e
    if cause is not None:
        raise InputError(f"Input file {p} could not be parsed as CSV ({_first(cause)}).") from cause


def _raise_if_not_utf8(p: Path, gz: bool, cause: BaseException) -> None:
    """Raise naming the line of the first byte that is not UTF-8 (streams 1 MiB chunks)."""
    decoder, line = codecs.getincrementaldecoder("utf-8")(), 1
    with _open(p, gz) as fh:
        while True:
            chunk = fh.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                start = max(e.start - (len(e.object) - len(chunk)), 0)  # minus carried bytes
                line += chunk.count(b"\n", 0, start)
                msg = f"Input file {p} is not valid UTF-8 (line {line}); re-save it as UTF-8."
                raise InputError(msg) from cause
            if not chunk:
                return
            line += chunk.count(b"\n")


def _check_names(p: Path, raw: list[str]) -> list[str]:
    names = [n.strip() or f"column_{i}" for i, n in enumerate(raw, 1)]
    dupes = [n for n, k in Counter(names).items() if k > 1]
    if dupes:
        raise InputError(f"Input file {p} has duplicate column names: {_listing(dupes)}.")
    return names


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    """Cast every column to string: ISO dates, integral floats without ``.0``, JSON nests."""
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        c = pl.col(name)
        if dtype == pl.String:
            e = c
        elif dtype.is_float():
            whole = c.is_finite() & (c == c.round()) & (c.abs() < 1e15)
            e = pl.when(whole).then(c.cast(pl.Int64).cast(pl.String)).otherwise(c.cast(pl.String))
        elif isinstance(dtype, pl.Datetime):
            e = c.dt.to_string("%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else ""))
        elif isinstance(dtype, pl.List | pl.Array | pl.Struct):
            body = pl.struct(c.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
            e = pl.when(c.is_null()).then(None).otherwise(body)
        else:
            e = c.cast(pl.String)
        exprs.append(e.alias(name))
    return df.select(exprs)


def _finish(df: pl.DataFrame, p: Path, id_column: str | None) -> pl.DataFrame:
    if not df.columns or df.height == 0:
        raise InputError(f"Input file {p} has no rows.")
    df = df.rename(dict(zip(df.columns, _check_names(p, df.columns), strict=True)))
    blank_to_null = (
        pl.when(pl.col(c).str.contains(r"\S")).then(pl.col(c)).alias(c) for c in df.columns
    )
    df = df.select(blank_to_null)
    if id_column is None:
        if "id" in df.columns:
            raise InputError(f"Input file {p} already has an 'id' column; use --id-column id.")
        return df.select(pl.int_range(1, df.height + 1).cast(pl.String).alias("id"), pl.all())
    if id_column not in df.columns:
        close = [c for c in df.columns if c.lower() == id_column.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            f"Input file {p} has no id column {id_column!r}{hint}; its columns are "
            f"{_listing(df.columns)} — choose one with --id-column."
        )
    ids = df.get_column(id_column)
    if ids.null_count():
        row = int(ids.is_null().arg_true()[0]) + 1
        raise InputError(
            f"Input file {p} has {ids.null_count()} row(s) with an empty {id_column!r} "
            f"(first: row {row})."
        )
    if ids.n_unique() != df.height:
        dup = ids.is_duplicated()
        first = ids[int(dup.arg_true()[0])]
        repeated = ids.filter(dup).n_unique()
        raise InputError(
            f"Input file {p} has duplicate ids: {first!r} appears {int((ids == first).sum())} "
            f"times, and {repeated} distinct id(s) are repeated in column {id_column!r}.",
            details={"first_duplicate": first, "duplicated_ids": repeated},
        )
    return df


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_LISTED])
    return shown + (f" … and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _first(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def infer_format(path: str | None, explicit: str | None) -> str:
    """Output format: ``explicit`` if given, else from the extension; stdout defaults to csv."""
    if explicit:
        fmt = _WRITE_FORMATS.get(explicit.lower().lstrip("."))
        if fmt is None:
            raise ConfigError(f"Unknown output format {explicit!r}; use csv, json or jsonl.")
        return fmt
    if path is None or path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        raise ConfigError(f"Cannot write Parquet to {path}; use a .csv, .json or .jsonl file.")
    return _WRITE_FORMATS.get(suffix.lstrip("."), "csv")


def write_table(df: pl.DataFrame, path: str | Path | None, fmt: str) -> None:
    """Write ``df`` as csv, json (one array of objects) or jsonl; ``None``/``-`` is stdout."""
    write_frames([df], path, fmt)


def write_frames(frames: Iterable[pl.DataFrame], path: str | Path | None, fmt: str) -> None:
    """:func:`write_table` for a table arriving in pieces (same columns): the bytes are those
    of the whole table written at once, and only one piece is in memory at a time."""
    kind = infer_format(None, fmt)
    if path is None or str(path) == "-":
        _write_all(frames, sys.stdout.buffer, kind)
        sys.stdout.buffer.flush()
        return
    try:
        with open(path, "wb") as fh:
            _write_all(frames, fh, kind)
    except OSError as e:
        raise InputError(f"Cannot write output file {path}: {e.strerror or e}.") from e


def _write_all(frames: Iterable[pl.DataFrame], fh: Any, kind: str) -> None:
    first = True
    wrote_rows = False
    for df in frames:
        if kind == "json":  # one array: the pieces' arrays with their brackets merged
            if df.height:
                inner = df.write_json().strip()[1:-1]
                fh.write((b"," if wrote_rows else b"[") + inner.encode())
                wrote_rows = True
        elif kind == "jsonl":
            df.write_ndjson(fh)
        else:
            _csv_safe(df).write_csv(fh, include_header=first)
        first = False
    if kind == "json":
        fh.write(b"]\n" if wrote_rows else b"[]\n")


def _csv_safe(df: pl.DataFrame) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        c = pl.col(name)
        text = dtype == pl.String
        if isinstance(dtype, pl.Array):
            c, dtype = c.arr.to_list(), pl.List(dtype.inner)
        if isinstance(dtype, pl.List):
            c, text = c.list.eval(pl.element().cast(pl.String)).list.join(";"), True
        elif isinstance(dtype, pl.Struct):
            c, text = c.struct.json_encode(), True
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            c, text = c.cast(pl.String), True
        if text:
            risky = c.str.contains(r"^[=+\-@\t\r]")
            c = pl.when(risky).then(pl.concat_str(pl.lit("'"), c)).otherwise(c)
        exprs.append(c.alias(name))
    return df.select(exprs)
