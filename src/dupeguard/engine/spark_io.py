"""Spark plumbing for the Spark engine: the session, reading inputs, one-line errors, writing.

Everything that can go wrong in Spark becomes one :class:`~dupeguard.core.errors.DupeguardError`
sentence: a master URL Spark cannot use, an input path it cannot read, a failure inside a task.
An input with a problem the local engine also detects (no id column, duplicate or empty ids, a
ragged CSV row, bytes that are not UTF-8, an empty file) gets the local engine's sentence.

The JVM writes its logs to a file (``DUPEGUARD_SPARK_LOG``, default a ``dupeguard-spark-*.log``
in the temporary directory), so stderr carries only dupeguard's own lines.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ..core.errors import ConfigError, DupeguardError, InputError
from .io import _as_text, _check_names, _listing, _raise_if_not_utf8, read_table, write_frames

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "INSTALL_HINT",
    "ROW",
    "SparkFailure",
    "check_local_input",
    "check_master",
    "read_input",
    "require_pyspark",
    "spark_errors",
    "start_session",
    "write_result",
]

INSTALL_HINT = "the Spark engine needs PySpark: pip install 'dupeguard[spark]'"
ROW = "__row"  # input position of a record (file order for one file); orients pairs as locally

_MASTER = re.compile(
    r"local(\[(\*|\d+)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]"
    r"|spark://[^\s/]+(,[^\s/]+)*|yarn|k8s://\S+|mesos://\S+"
)
_FALLBACK_BYTES = 1 << 30  # re-read a local file with the local reader for its exact message
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


class SparkFailure(DupeguardError):
    """Spark could not run the scan (its first line of explanation, never a JVM trace)."""

    code = "spark_error"


def require_pyspark() -> None:
    try:
        import pyspark
        import pyspark.sql.pandas.utils  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def check_master(master: str) -> None:
    """Refuse a master URL Spark cannot use before a JVM starts; a standalone master must be
    reachable (Spark itself would retry for a minute before giving up)."""
    if not _MASTER.fullmatch(master.strip()):
        raise ConfigError(
            f"--spark-master {master!r} is not a Spark master URL "
            "(use local[*], local[N], spark://HOST:PORT, yarn or k8s://…)"
        )
    if master.startswith("spark://"):
        for hostport in master[len("spark://") :].split(","):
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"--spark-master {master!r}: expected spark://HOST:PORT")
            try:
                socket.create_connection((host, int(port)), timeout=5).close()
            except OSError as e:
                raise ConfigError(
                    f"cannot reach the Spark master at {host}:{port}: {e.strerror or e}"
                ) from None


def log_path() -> Path:
    explicit = os.environ.get("DUPEGUARD_SPARK_LOG")
    if explicit:
        return Path(explicit)
    return Path(tempfile.gettempdir()) / f"dupeguard-spark-{os.getpid()}.log"


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` while the JVM starts (it inherits it for good)."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.close(fd)
        os.dup2(saved, 2)
        os.close(saved)


def start_session(
    master: str | None = "local[*]",
    *,
    shuffle_partitions: int | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession for a scan (the active one if there is one, e.g. under spark-submit).

    ``master=None`` leaves the master to the environment (spark-submit, Databricks).
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if master is not None:
        check_master(master)
        if master.startswith("local"):
            # local workers run this interpreter, which has dupeguard and its dependencies
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("dupeguard scan")
    if master is not None:
        builder = builder.master(master)
    settings = {
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
        "spark.sql.session.timeZone": "UTC",
    }
    if master is not None and master.startswith("local"):
        # one machine: a few partitions per core (Spark's default of 200 is made for clusters),
        # and the one JVM is driver and executor: Spark's default heap of 1 GB is too small
        if shuffle_partitions is None:
            shuffle_partitions = 4 * (os.cpu_count() or 1)
        settings["spark.driver.memory"] = os.environ.get("DUPEGUARD_SPARK_MEMORY", "4g")
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with _stderr_to(log_path()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = builder.getOrCreate()
    except Exception as e:
        raise SparkFailure(f"Spark could not start: {first_line(e)} (log: {log_path()})") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def first_line(exc: BaseException) -> str:
    """The first informative line of a Spark/py4j error, without the JVM trace."""
    text = str(exc)
    marker = re.search(r"dupeguard\.core\.errors\.(\w+): (.+)", text)
    if marker:  # an error raised inside a task by dupeguard's own code
        return marker.group(2).strip()
    raised = [  # the exception a Python worker raised: the last one its traceback names
        m.group(2).strip()
        for m in re.finditer(
            r"^\s*((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)): (.+)$", text, re.M
        )
        if not m.group(1).startswith(("org.", "java.", "scala.", "py4j."))
    ]
    if raised and "Python worker" in text:
        return raised[-1][:400]
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "File ", "JVM stacktrace")):
            line = re.sub(r"^(\w+\.)+\w+(Exception|Error):\s*", "", line)
            return line[:400]
    return type(exc).__name__


@contextmanager
def spark_errors(path: str | None = None) -> Iterator[None]:
    """Turn Spark, py4j and worker failures into one dupeguard sentence."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
            yield
    except DupeguardError:
        raise
    except Exception as e:
        if not _is_spark_error(e) or os.environ.get("DUPEGUARD_DEBUG"):
            raise
        text = str(e)
        marker = re.search(r"dupeguard\.core\.errors\.(InputError|ConfigError): (.+)", text)
        if marker:
            cls = InputError if marker.group(1) == "InputError" else ConfigError
            raise cls(marker.group(2).strip()) from None
        if path is not None and ("PATH_NOT_FOUND" in text or "Path does not exist" in text):
            raise InputError(f"Input file {path} does not exist.") from None
        raise SparkFailure(f"Spark failed: {first_line(e)}") from None


def _is_spark_error(e: BaseException) -> bool:
    module = type(e).__module__ or ""
    return module.startswith(("pyspark", "py4j")) or "Py4J" in type(e).__name__


# -- reading ---------------------------------------------------------------------------------


def _local(path: str) -> Path | None:
    if path.startswith("file:"):
        return Path(re.sub(r"^file:(//)?", "", path))
    if re.match(r"^[A-Za-z][\w+.-]*://", path) or re.match(r"^(dbfs|s3a?|hdfs|gs|abfss?):", path):
        return None
    return Path(path)


def check_local_input(path: str) -> Path | None:
    """For a path on this machine, the local reader's first checks (cheap: before Spark
    starts); ``None`` for a URL only Spark can check."""
    local = _local(path)
    if local is not None:
        if not local.exists():
            raise InputError(f"Input file {local} does not exist.")
        if local.is_file() and local.stat().st_size == 0:
            raise InputError(f"Input file {local} is empty (0 bytes).")
    return local


def _kind(path: str, local: Path | None, fmt: str | None) -> str:
    kinds = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "parquet": "parquet", "pq": "parquet"}
    kinds.update(jsonl="jsonl", ndjson="jsonl", json="jsonl")
    if fmt:
        kind = kinds.get(fmt.lower().lstrip("."))
        if kind is None:
            raise ConfigError(f"Unknown input format {fmt!r}; use csv, tsv, parquet or jsonl.")
        return kind
    name = path.rstrip("/")
    if local is not None and local.is_dir():
        files = sorted(p.name for p in local.iterdir() if not p.name.startswith(("_", ".")))
        name = files[0] if files else name
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".snappy", ".zst"):
        suffixes.pop()
    for suffix in reversed(suffixes):
        if suffix.lstrip(".") in kinds:
            return kinds[suffix.lstrip(".")]
    if local is not None and local.is_file():
        with local.open("rb") as fh:
            head = fh.read(4)
        if head == b"PAR1":
            return "parquet"
        return "jsonl" if head.lstrip()[:1] == b"{" else "csv"
    return "parquet"


def _csv_header(p: Path, sep: str | None) -> tuple[str, list[str]]:
    """The separator (sniffed as the local reader does) and the checked header names."""
    import gzip

    opener: Any = gzip.open if p.suffix.lower() == ".gz" else open
    with opener(p, "rb") as fh:
        head = fh.read(1 << 16)
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if sep is None:
        first = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
        sep = max((",", "\t", ";", "|"), key=lambda c: (first.count(c), c == ","))
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    return sep, _check_names(p, header)


def read_input(
    spark: SparkSession, path: str, *, id_column: str = "id", fmt: str | None = None
) -> DataFrame:
    """Read a CSV/TSV, Parquet or JSON Lines input (a file or a directory of part files, on any
    path Spark reads) as string columns plus :data:`ROW`, checked like the local reader: the
    id column exists, and every id is present and unique."""
    from pyspark.sql import functions as F

    local = check_local_input(path)
    shown = str(local) if local is not None else path
    kind = _kind(path, local, fmt)
    try:
        with spark_errors(shown):
            df = _read(spark, path, local, kind)
            blank_to_null = [
                F.when(F.col(f"`{c}`").rlike(r"\S"), F.col(f"`{c}`")).alias(c) for c in df.columns
            ]
            df = df.select(*blank_to_null, F.monotonically_increasing_id().alias(ROW)).persist()
            _check(df, shown, local, kind, id_column)
    except DupeguardError:
        if local is not None and local.is_file() and local.stat().st_size <= _FALLBACK_BYTES:
            read_table(local, id_column=id_column, fmt=fmt)  # raises the local engine's sentence
        raise
    return df


def _read(spark: SparkSession, path: str, local: Path | None, kind: str) -> DataFrame:
    from pyspark.sql import functions as F

    if kind in ("csv", "tsv"):
        sep: str | None = "\t" if kind == "tsv" else None
        names: list[str] | None = None
        if local is not None and local.is_file():
            sep, names = _csv_header(local, sep)
        reader = (
            spark.read.option("header", True)
            .option("inferSchema", False)
            .option("mode", "FAILFAST")
            .option("escape", '"')
            .option("encoding", "UTF-8")
            .option("enforceSchema", False)
            .option("sep", sep or ",")
        )
        df = reader.csv(path)
        if names is not None and len(names) == len(df.columns):
            df = df.toDF(*names)
        else:
            df = df.toDF(*[c.strip() or f"column_{i}" for i, c in enumerate(df.columns, 1)])
        cols = [F.col(f"`{c}`").cast("string").alias(c) for c in df.columns]
        return df.select(cols)
    reader_df = spark.read.parquet(path) if kind == "parquet" else spark.read.json(path)
    if not reader_df.columns:
        return reader_df
    # the local reader's text forms (ISO dates, whole floats without ".0", JSON for nests)
    sample = _as_text(pl.from_arrow(reader_df.limit(0).toArrow()))  # type: ignore[arg-type]
    schema = ", ".join(f"`{c}` string" for c in sample.columns)

    def as_text(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            table = _as_text(pl.from_arrow(batch)).to_arrow()  # type: ignore[arg-type]
            target = pa.schema([(c, pa.string()) for c in table.column_names])
            yield from table.cast(target).to_batches()

    return reader_df.mapInArrow(as_text, schema)


def _check(df: DataFrame, shown: str, local: Path | None, kind: str, id_column: str) -> None:
    from pyspark.sql import functions as F

    columns = [c for c in df.columns if c != ROW]
    names = _check_names(Path(shown), columns)
    aggs = [F.count(F.lit(1)).alias("rows")]
    if id_column in names:
        ident = F.col(f"`{id_column}`")
        aggs += [
            F.count(F.when(ident.isNull(), 1)).alias("nulls"),
            F.min(F.when(ident.isNull(), F.col(ROW))).alias("first_null"),
            F.max(
                F.concat_ws("\x1f", *[F.col(f"`{c}`") for c in columns]).contains("\ufffd")
            ).alias("replaced"),
        ]
    stats = df.agg(*aggs).first()
    assert stats is not None
    if not columns or not stats["rows"]:
        raise InputError(f"Input file {shown} has no rows.")
    if id_column not in names:
        close = [c for c in names if c.lower() == id_column.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            f"Input file {shown} has no id column {id_column!r}{hint}; its columns are "
            f"{_listing(names)} — choose one with --id-column."
        )
    if stats["replaced"] and kind in ("csv", "tsv"):
        if local is not None and local.is_file():
            _raise_if_not_utf8(local, local.suffix.lower() == ".gz", RuntimeError("utf-8"))
        elif local is None:
            raise InputError(f"Input file {shown} is not valid UTF-8; re-save it as UTF-8.")
    if stats["nulls"]:
        row = df.where(F.col(ROW) <= stats["first_null"]).count()
        raise InputError(
            f"Input file {shown} has {stats['nulls']} row(s) with an empty {id_column!r} "
            f"(first: row {row})."
        )
    dups = (
        df.groupBy(F.col(f"`{id_column}`").alias("id"))
        .agg(F.count(F.lit(1)).alias("n"), F.min(ROW).alias("at"))
        .where(F.col("n") > 1)
    )
    summary = dups.agg(F.count(F.lit(1)).alias("repeated"), F.min(F.struct("at", "id", "n")))
    first = summary.first()
    if first is not None and first["repeated"]:
        worst = first[1]
        raise InputError(
            f"Input file {shown} has duplicate ids: {worst['id']!r} appears {worst['n']} "
            f"times, and {first['repeated']} distinct id(s) are repeated in column "
            f"{id_column!r}.",
            details={"first_duplicate": worst["id"], "duplicated_ids": first["repeated"]},
        )


# -- writing ---------------------------------------------------------------------------------


def write_result(df: DataFrame, path: str | Path | None, fmt: str, *, batch: int = 50_000) -> None:
    """Write a (sorted) result frame to one local file or stdout, in the local engine's formats,
    streaming one partition at a time through the driver (never the whole result at once)."""

    def frames() -> Iterator[pl.DataFrame]:
        rows: list[Any] = []
        sent = False
        for row in df.toLocalIterator():
            rows.append(tuple(row))
            if len(rows) >= batch:
                yield _frame(rows, df)
                rows, sent = [], True
        if rows or not sent:
            yield _frame(rows, df)

    write_frames(frames(), path, fmt)


def _frame(rows: list[Any], df: DataFrame) -> pl.DataFrame:
    schema: dict[str, Any] = {}
    for field in df.schema.fields:
        kind = field.dataType.simpleString()
        schema[field.name] = {
            "string": pl.String,
            "double": pl.Float64,
            "bigint": pl.Int64,
            "boolean": pl.Boolean,
            "array<string>": pl.List(pl.String),
        }[kind]
    return pl.DataFrame(rows, schema=schema, orient="row")
