"""CSV files for imports: strict reading, and report cells a spreadsheet will not execute.

An uploaded file must be UTF-8 (a byte-order mark is fine) with a header row naming every
column once; the delimiter is sniffed among ``,`` ``;`` tab and ``|``. Every problem is one
``validation_error`` naming the line (1 is the header): undecodable bytes, NUL bytes, bad
quoting, a row with more or fewer fields than the header, blank or repeated column names, a
first line that looks like data. A file over the size limit is ``payload_too_large``.

Rows are numbered from 1, the first data row after the header; blank lines (and rows whose
cells are all blank) are not rows. :func:`inspect` checks a whole file once, at upload;
:func:`iter_rows` reads it again, identically, whenever the import needs its rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..core.errors import DupeguardError, ValidationError

__all__ = [
    "DELIMITERS",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "CsvFile",
    "FileTooLarge",
    "csv_line",
    "inspect",
    "iter_rows",
    "safe_cell",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_COLUMNS = 500
DELIMITERS = (",", ";", "\t", "|")
_SNIFF_CHARS = 64 * 1024
_SNIFF_ROWS = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_RISKY_START = ("=", "+", "-", "@", "\t", "\r")


class FileTooLarge(DupeguardError):
    """The file is over the import size limit (HTTP 413)."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        mib = limit / (1024 * 1024)
        size = f"{mib:g} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
        super().__init__(
            f"the file is larger than the {size} import limit", details={"max_bytes": limit}
        )


@dataclass(frozen=True)
class CsvFile:
    columns: list[str]
    row_count: int
    delimiter: str


def _bad(message: str, line: int | None = None) -> ValidationError:
    if line is None:
        return ValidationError(message, details={"field": "file"})
    return ValidationError(f"line {line}: {message}", details={"field": "file", "line": line})


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _bad("the file is UTF-16 text; save it as CSV UTF-8")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        byte = content[exc.start]
        raise _bad(
            f"byte 0x{byte:02x} is not UTF-8 text; save the file as CSV UTF-8", line
        ) from None
    if "\x00" in text:
        raise _bad(
            "the file contains NUL bytes; is it a CSV file?",
            text[: text.index("\x00")].count("\n") + 1,
        )
    return text


def _sniff(text: str) -> str:
    """The delimiter that splits the header into most columns and every sampled row alike."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best: tuple[float, int, int] = (0.0, 1, 0)
    chosen = DELIMITERS[0]
    for order, delimiter in enumerate(DELIMITERS):
        rows: list[list[str]] = []
        try:
            for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                if any(cell.strip() for cell in row):
                    rows.append(row)
                if len(rows) > _SNIFF_ROWS:
                    break
        except csv.Error:
            pass
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:] or rows
        consistent = sum(len(r) == width for r in body) / len(body)
        score = (consistent, width, -order)
        if score > best:
            best, chosen = score, delimiter
    return chosen


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of every record, blank ones included; csv errors name the line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if reason == "unexpected end of data":
                reason = "a quoted field is never closed"
            raise _bad(f"the row cannot be read ({reason})", line) from None
        yield line, row
        line = reader.line_num + 1


def _blank(row: Sequence[str]) -> bool:
    return not "".join(row).strip()  # = every cell blank, in one C call


def _header(rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    for line, row in rows:
        if _blank(row):
            continue
        columns = [cell.strip() for cell in row]
        if len(columns) > MAX_COLUMNS:
            raise _bad(f"{len(columns)} columns; at most {MAX_COLUMNS}", line)
        seen: dict[str, int] = {}
        for position, name in enumerate(columns, 1):
            if not name:
                raise _bad(
                    f"column {position} has no name; the first row must name every column", line
                )
            if _EMAIL.fullmatch(name):
                raise _bad(
                    f"the first row looks like data ({name!r}), not column names; "
                    "add a header row naming the columns",
                    line,
                )
            folded = name.casefold()
            if folded in seen:
                raise _bad(
                    f"column name {name!r} appears twice (columns {seen[folded]} and {position}); "
                    "column names must be unique",
                    line,
                )
            seen[folded] = position
        return columns
    raise _bad("the file has no header row (it is empty)")


def _rows(text: str, delimiter: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    records = _records(text, delimiter)
    columns = _header(records)

    def body() -> Iterator[tuple[int, list[str]]]:
        number = 0
        for line, row in records:
            if _blank(row):
                continue
            if len(row) != len(columns):
                raise _bad(f"{len(row)} fields, but the header has {len(columns)}", line)
            number += 1
            yield number, row

    return columns, body()


def inspect(content: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> CsvFile:
    """Check a whole file: its columns, row count and delimiter, or the first problem."""
    if len(content) > max_bytes:
        raise FileTooLarge(max_bytes)
    text = _decode(content)
    if not text.strip():
        raise _bad("the file is empty")
    delimiter = _sniff(text)
    columns, rows = _rows(text, delimiter)
    count = sum(1 for _ in rows)
    if count == 0:
        raise _bad("the file has a header but no data rows")
    return CsvFile(columns=columns, row_count=count, delimiter=delimiter)


def iter_rows(content: bytes, *, after: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every data row numbered above ``after``, in file order."""
    text = _decode(content)
    _, rows = _rows(text, _sniff(text))
    for number, row in rows:
        if number > after:
            yield number, row


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting with ``= + - @``, tab or CR gets a
    leading ``'`` (as the scan outputs do, :mod:`dupeguard.engine.io`)."""
    return "'" + value if value.startswith(_RISKY_START) else value


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line (``\\r\\n``-terminated) of neutralised cells."""
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(c) for c in cells])
    return out.getvalue()
