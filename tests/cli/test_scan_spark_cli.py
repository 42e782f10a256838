"""`dupeguard scan --engine spark` as a user runs it: one clear line for every problem."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str | Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dupeguard.cli", *map(str, args)]
    if code is not None:
        argv = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "at org.apache" not in proc.stderr
    return lines[0]


def test_without_pyspark_it_says_how_to_install_it(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,name\n1,Ann\n")
    hide = (
        "import sys; sys.modules['pyspark'] = None; "
        "sys.argv = ['dupeguard', *sys.argv[1:]]; from dupeguard.cli import main; main()"
    )
    line = one_line(run("scan", path, "--engine", "spark", code=hide))
    assert "pip install 'dupeguard[spark]'" in line


def test_spark_master_needs_the_spark_engine(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,name\n1,Ann\n")
    assert "--engine spark" in one_line(run("scan", path, "--spark-master", "local[2]"))


needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None
    or (shutil.which("java") is None and not os.environ.get("JAVA_HOME")),
    reason="PySpark or a Java runtime is missing",
)


@needs_spark
def test_missing_input_and_bad_master_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert one_line(run("scan", missing, "--engine", "spark")) == (
        f"dupeguard: Input file {missing} does not exist."
    )
    path = tmp_path / "c.csv"
    path.write_text("id,name\n1,Ann\n")
    line = one_line(run("scan", path, "--engine", "spark", "--spark-master", "bogus://x"))
    assert "is not a Spark master URL" in line


@needs_spark
def test_bad_input_is_the_local_engines_line_and_the_jvm_stays_quiet(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("id,name\n1,Ann\n1,Bob\n")
    local = one_line(run("scan", path))
    spark = one_line(run("scan", path, "--engine", "spark", "--spark-master", "local[1]"))
    assert spark == local
    assert "duplicate ids" in spark
