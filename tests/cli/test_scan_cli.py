"""End-to-end: `dupeguard scan` on small files, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def pair_set(frame: pl.DataFrame) -> set[frozenset[str]]:
    return {frozenset(p) for p in frame.select("primary_id", "duplicate_id").iter_rows()}


def test_scan_finds_the_real_duplicates_and_explains_them(
    contacts_csv: Path, tmp_path: Path
) -> None:
    out, clusters = tmp_path / "pairs.csv", tmp_path / "clusters.csv"
    proc = run("scan", contacts_csv, "--out", out, "--clusters", clusters)
    assert "Scanned 59 records" in proc.stderr
    pairs = pl.read_csv(out, infer_schema=False)
    assert pairs.columns == ["primary_id", "duplicate_id", "similarity", "matched_fields", "reason"]
    found = pair_set(pairs)
    expected = {frozenset(p) for p in [("1", "2"), ("1", "3"), ("2", "3"), ("4", "5"), ("6", "7")]}
    assert expected <= found
    assert frozenset(("8", "9")) not in found  # a household is not one person
    assert frozenset(("10", "11")) not in found  # namesakes in other cities
    sims = pairs["similarity"].cast(pl.Float64)
    assert (sims >= 0.85).all() and sims.to_list() == sorted(sims.to_list(), reverse=True)

    row = pairs.filter(
        ((pl.col("primary_id") == "1") & (pl.col("duplicate_id") == "2"))
        | ((pl.col("primary_id") == "2") & (pl.col("duplicate_id") == "1"))
    ).row(0, named=True)
    assert {"email", "phone", "company", "first_name", "last_name"} <= set(
        row["matched_fields"].split(";")
    )
    assert row["reason"].startswith("Same") and row["reason"].endswith(".")
    assert "(John Smith ~ Jon Smith)" in row["reason"]  # the fuzzy values are quoted
    bob = pairs.filter(pl.col("primary_id").is_in(["4", "5"])).row(0, named=True)
    assert "nickname (Robert Jones ~ Bob Jones)" in bob["reason"]

    sets = pl.read_csv(clusters, infer_schema=False)
    assert sets.columns == ["record_id", "cluster_id", "is_primary"]
    by_cluster = sets.group_by("cluster_id").agg(pl.col("record_id"))
    members = {frozenset(r) for r in by_cluster["record_id"].to_list()}
    assert frozenset({"1", "2", "3"}) in members
    # one primary per set: the most complete record (1 and 2 tie on fields; 1 is older)
    primaries = sets.filter(pl.col("is_primary") == "true")["record_id"].to_list()
    assert "1" in primaries and "4" in primaries
    assert sets.filter(pl.col("is_primary") == "true").height == by_cluster.height


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_formats_and_limit(contacts_csv: Path, fmt: str) -> None:
    proc = run("scan", contacts_csv, "--format", fmt, "--limit", "2", "--quiet")
    assert proc.stderr == ""
    if fmt == "json":
        pairs = json.loads(proc.stdout)
    else:
        pairs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(pairs) == 2
    assert isinstance(pairs[0]["matched_fields"], list)
    assert 0.85 <= pairs[1]["similarity"] <= pairs[0]["similarity"] <= 1


def test_threshold_lowers_and_raises_the_bar(contacts_csv: Path) -> None:
    strict = run("scan", contacts_csv, "--threshold", "0.999", "--format", "jsonl", "-q")
    loose = run("scan", contacts_csv, "--threshold", "0.5", "--format", "jsonl", "-q")
    assert len(strict.stdout.splitlines()) <= len(loose.stdout.splitlines())


def test_map_and_field_options(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "key,given,family,ssn,notes\n"
        "a,Anna,Berg,123-45-6789,x\n"
        "b,Ana,Berg,123-45-6789,y\n"
        "c,Carl,Dahl,987-65-4321,z\n"
    )
    proc = run(
        "scan",
        path,
        "--id-column",
        "key",
        "--map",
        "given=first_name",
        "--map",
        "family=last_name",
        "--map",
        "ssn=external_id",
        "--map",
        "notes=ignore",
        "--format",
        "jsonl",
        "-q",
    )
    pairs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(p["primary_id"], p["duplicate_id"]) for p in pairs] in ([("a", "b")], [("b", "a")])
    assert "external_id" in pairs[0]["matched_fields"]


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing.csv"], "does not exist"),
        ("id,name\n1,a\n1,b\n", ["f.csv"], "duplicate"),
        ("name,email\na,b@c.com\n", ["f.csv"], "--id-column"),
        (b"id,name\n1,\xff\xfe\n", ["f.csv"], "UTF-8"),
        ("", ["f.csv"], "empty"),
        ("id,name\n1,a\n", ["f.csv", "--field", "name=colour"], "unknown field type"),
        ("id,name\n1,a\n", ["f.csv", "--threshold", "1.5"], "--threshold"),
        ("id,name\n1,a\n", ["f.csv", "--map", "nope"], "COLUMN=VALUE"),
        ("id,name\n1,a\n", ["f.csv", "--entity", "planet"], "unknown entity"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, setup: str | bytes | None, args: list[str], message: str
) -> None:
    target = tmp_path / args[0]
    if isinstance(setup, bytes):
        target.write_bytes(setup)
    elif setup is not None:
        target.write_text(setup)
    proc = run("scan", tmp_path / args[0], *args[1:], check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dupeguard: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_option_is_a_usage_error(contacts_csv: Path) -> None:
    proc = run("scan", contacts_csv, "--colour", "red", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_progress_on_stderr_for_large_inputs(tmp_path: Path) -> None:
    n = 60_000
    frame = pl.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "first_name": [f"F{i % 977}" for i in range(n)],
            "last_name": [f"L{i % 1499}" for i in range(n)],
            "email": [f"user{i}@example.com" for i in range(n)],
        }
    )
    path = tmp_path / "big.parquet"
    frame.write_parquet(path)
    proc = run("scan", path, "--out", tmp_path / "p.csv")
    lines = proc.stderr.splitlines()
    assert "dupeguard: compare…" in lines and lines[-1].startswith("Scanned 60,000 records")
    small = run("scan", path, "--out", tmp_path / "p.csv", "--quiet")
    assert small.stderr == ""
