"""Big reads and inserts at the driver's own speed: rows as the DB-API gives them; PostgreSQL
``COPY`` and SQLite ``executemany`` of tuples.

A duplicate job writes hundreds of thousands of sets, members and pairs in one transaction.
Through SQLAlchemy's executemany each row is a dict whose every value goes through the column
type's bind processing; here the rows come from a polars frame, the values are already what
the driver takes, and only the constant columns (a timestamp, the workspace) are converted,
once, by the column's own type. Rows are written in the session's current transaction.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import JSON, Table
from sqlalchemy.orm import Session

from .session import pause_point

__all__ = ["insert_frame", "json_texts", "new_ids", "raw_rows"]

_BATCH = 50_000


def raw_rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
    """All rows of ``query`` as the DB-API gives them (no result processing: JSON columns
    arrive as text on SQLite): for millions of rows, SQLAlchemy's row objects would cost more
    than the database."""
    result = session.connection().execute(query)
    return list(result.cursor.fetchall()) if result.cursor is not None else []


def new_ids(n: int) -> pl.Series:
    """``n`` UUID version 7 strings as :func:`dupeguard.store.tables.new_id` makes them (one
    millisecond stamp, 74 random bits each), made at once."""
    stamp = (time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, :6] = np.frombuffer(stamp.to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = pl.Series("id", [bytes(raw)], dtype=pl.Binary).bin.encode("hex")[0] if n else ""
    text = pl.Series("id", [hexed[i * 32 : (i + 1) * 32] for i in range(n)], dtype=pl.String)
    return pl.select(
        pl.concat_str(
            [
                text.str.slice(0, 8),
                text.str.slice(8, 4),
                text.str.slice(12, 4),
                text.str.slice(16, 4),
                text.str.slice(20, 12),
            ],
            separator="-",
        ).alias("id")
    )["id"]


def json_texts(values: pl.Series) -> pl.Series:
    """The JSON text of each list of strings in ``values`` (what a JSON column stores),
    serialised once per distinct list: a job's pairs repeat a handful of matched-field lists."""
    keys = values.list.join("\x1f")
    distinct = keys.unique()
    texts = [json.dumps(k.split("\x1f") if k else []) for k in distinct.to_list()]
    lookup = pl.DataFrame({"k": distinct, "t": texts}, schema={"k": pl.String, "t": pl.String})
    joined = keys.to_frame("k").join(lookup, on="k", how="left", maintain_order="left")
    return joined["t"].fill_null("[]")


def _rows(frame: pl.DataFrame, constants: Mapping[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    extra = tuple(constants.values())
    for start in range(0, frame.height, _BATCH):
        chunk = frame.slice(start, _BATCH)
        yield [row + extra for row in chunk.iter_rows()]


def insert_frame(
    session: Session, table: Table, frame: pl.DataFrame, constants: Mapping[str, Any] = {}
) -> int:
    """Insert every row of ``frame`` (columns named as the table's) with ``constants`` added
    to each; returns the number of rows. JSON columns take JSON text (:func:`json_texts`)."""
    if frame.height == 0:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    names = [*frame.columns, *constants]
    for name in names:
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    json_columns = [n for n in frame.columns if isinstance(table.c[n].type, JSON)]
    if json_columns and any(frame[n].dtype != pl.String for n in json_columns):
        raise ValueError(f"JSON columns take JSON text: {', '.join(json_columns)}")
    converted: dict[str, Any] = {}
    for name, value in constants.items():
        process = table.c[name].type.bind_processor(dialect)
        converted[name] = process(value) if process is not None and value is not None else value
    raw = connection.connection.dbapi_connection
    if raw is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("no database connection")
    pause_point(f"INSERT INTO {table.name} ({', '.join(names)})")
    cursor = raw.cursor()
    columns = ", ".join(f'"{n}"' for n in names)
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                for rows in _rows(frame, converted):
                    for row in rows:
                        copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in names)
            sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'
            for rows in _rows(frame, converted):
                cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return frame.height
