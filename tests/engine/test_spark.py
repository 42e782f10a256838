"""The Spark engine against the local engine: same pairs, same clusters, same similarities (to
1e-6), and the same one-sentence errors for bad input. One ``local[2]`` session per module."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from dupeguard.core.errors import ConfigError, InputError
from dupeguard.engine.io import read_table
from dupeguard.engine.scan import scan as local_scan
from dupeguard.engine.schema import fields_for
from dupeguard.synthetic import generate_contacts, write

if importlib.util.find_spec("pyspark") is None:
    pytest.skip(
        "PySpark is not installed (pip install 'dupeguard[spark]')", allow_module_level=True
    )
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip(
        "no Java runtime for Spark (java not on PATH, JAVA_HOME unset)", allow_module_level=True
    )

from dupeguard.engine.spark import scan_path
from dupeguard.engine.spark_io import check_master, read_input, start_session

RECORDS = 2_500


@pytest.fixture(scope="module")
def spark():
    session = start_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def contacts(tmp_path_factory) -> Path:
    records, truth = generate_contacts(RECORDS, 7)
    path = tmp_path_factory.mktemp("spark") / "contacts.csv"
    write(records, truth, path)
    return path


def test_same_pairs_clusters_and_similarities_as_the_local_engine(spark, contacts) -> None:
    frame = read_table(contacts)
    local = local_scan(frame, fields_for(frame, entity="contact", id_column="id"))
    result = scan_path(spark, str(contacts))
    pairs = pl.from_arrow(result.pairs.toArrow())
    clusters = pl.from_arrow(result.clusters.toArrow())
    assert isinstance(pairs, pl.DataFrame) and isinstance(clusters, pl.DataFrame)

    assert result.records == RECORDS
    assert result.candidate_pairs == local.candidate_pairs
    assert result.matched_pairs == local.matched_pairs > 500  # the data has many duplicates
    assert pairs.height == local.pairs.height
    key = ["primary_id", "duplicate_id"]
    assert pairs.select(key).equals(local.pairs.select(key))
    assert (pairs["similarity"] - local.pairs["similarity"]).abs().max() <= 1e-6
    assert pairs["matched_fields"].equals(local.pairs["matched_fields"])
    assert pairs["reason"].equals(local.pairs["reason"])
    assert clusters.equals(local.clusters)
    assert result.model.iterations == local.model.iterations
    result.unpersist()


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("dupes.csv", b"id,name\n1,Ann\n2,Bob\n1,Cy\n3,Di\n3,Ed\n"),
        ("blank_id.csv", b"id,name\n1,Ann\n,Bob\n3,Cy\n"),
        ("no_id.csv", b"ID,name\n1,Ann\n"),
        ("header_only.csv", b"id,name\n"),
        ("latin1.csv", b"id,name\n1,Ann\n2,Jos\xe9\n"),
        ("twice.csv", b"id,name,name\n1,a,b\n"),
    ],
)
def test_bad_input_gets_the_local_engines_sentence(spark, tmp_path, name, content) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(InputError) as local:
        read_table(path)
    with pytest.raises(InputError) as distributed:
        read_input(spark, str(path))
    assert distributed.value.message == local.value.message


def test_missing_and_empty_inputs(spark, tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_input(spark, str(tmp_path / "nope.parquet"))
    with pytest.raises(InputError, match=r"is empty \(0 bytes\)"):
        read_input(spark, str(_write(tmp_path, "empty.csv", b"")))


def test_a_spark_failure_is_one_line(spark, tmp_path) -> None:
    (tmp_path / "nothing").mkdir()  # a directory Spark cannot infer a Parquet schema from
    with pytest.raises(Exception) as info:
        read_input(spark, str(tmp_path / "nothing"))
    message = str(info.value)
    assert "\n" not in message and "at org.apache" not in message
    assert type(info.value).__name__ in ("SparkFailure", "InputError")


def test_reads_parquet_like_the_local_reader(spark, tmp_path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "amount": [1.0, 2.5, None], "name": ["a", " ", "c"]})
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    got = pl.from_arrow(read_input(spark, str(path)).drop("__row").toArrow())
    assert isinstance(got, pl.DataFrame)
    assert got.sort("id").equals(read_table(path).sort("id"))


@pytest.mark.parametrize("master", ["bogus://x", "local[two]", "spark://"])
def test_master_urls_spark_cannot_use_are_refused_before_a_jvm_starts(master: str) -> None:
    with pytest.raises(ConfigError, match="master"):
        check_master(master)


def test_an_unreachable_standalone_master_is_refused_at_once() -> None:
    with pytest.raises(ConfigError, match=r"cannot reach the Spark master at 127\.0\.0\.1:1"):
        check_master("spark://127.0.0.1:1")


def test_a_batch_without_any_key_of_a_blocking_rule_is_prepared() -> None:
    """A batch function alone (no JVM): records none of which has an e-mail or a phone."""
    from dupeguard.engine.spark import _Layout, _records_fn, _records_schema

    frame = pl.DataFrame(
        {
            "id": ["1", "2", "3"],
            "first_name": ["Ann", "Bob", None],
            "last_name": ["Lee", "Lee", "Kim"],
            "email": [None, None, None],
            "phone": [None, None, None],
        },
        schema={c: pl.String for c in ("id", "first_name", "last_name", "email", "phone")},
    )
    fields = fields_for(frame, entity="contact", id_column="id")
    layout = _Layout("contact", tuple(fields), "id", "US")
    schema = _records_schema(layout.plan())
    batch = frame.with_columns(pl.int_range(3, dtype=pl.Int64).alias("__row")).to_arrow()
    out = pl.from_arrow(next(iter(_records_fn(layout, schema)(batch.to_batches()))))
    assert isinstance(out, pl.DataFrame)
    assert out.columns == [part.split(" ")[0] for part in schema.split(", ")]
    keys = [c for c in out.columns if c.startswith("k")]
    assert any(out[c].null_count() == 3 for c in keys)  # the e-mail and phone rules
    assert any(out[c].null_count() == 0 for c in keys)  # the surname rule
