"""Spark engine scaling: ``local[1]`` vs ``local[2]`` against the local engine, same data.

Usage::

    .venv/bin/python bench/spark_bench.py --n 1000000 [--masters 'local[1]' 'local[2]']

Generates (or reuses) ``bench/data/contacts_<n>.parquet`` (seed 1), runs ``dupeguard scan``
with the local engine and with ``--engine spark`` on each master (one process each, wall time
from start to the written files, JVM start included), checks that every Spark run wrote the
same pairs and clusters files byte for byte, and appends a section to bench/RESULTS.md with
records per core-second (records / (wall × cores used)).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(cmd: list[str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=fh, cwd=REPO)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return wall


def cores(master: str) -> int:
    m = re.fullmatch(r"local\[(\d+)\]", master)
    return int(m.group(1)) if m else os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--masters", nargs="*", default=["local[2]", "local[1]"])
    p.add_argument("--data-dir", type=Path, default=REPO / "bench/data")
    p.add_argument("--out-dir", type=Path, default=REPO / "bench/out/spark")
    p.add_argument("--results", type=Path, default=REPO / "bench/RESULTS.md")
    args = p.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = args.data_dir / f"contacts_{args.n}.parquet"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench/generate.py"),
                "--kind",
                "contacts",
                "--n",
                str(args.n),
                "--seed",
                "1",
                "--out",
                str(data),
            ],
            check=True,
        )
    dupeguard = str(BIN / "dupeguard")
    rows: list[tuple[str, int, float, bool | None]] = []
    ref = (args.out_dir / "local_pairs.csv", args.out_dir / "local_clusters.csv")
    local_cores = len(os.sched_getaffinity(0))
    wall = run(
        [dupeguard, "scan", str(data), "--out", str(ref[0]), "--clusters", str(ref[1])],
        args.out_dir / "local.log",
    )
    print(f"local engine: {wall:.1f} s", file=sys.stderr, flush=True)
    rows.append(("local engine (polars, all cores)", local_cores, wall, None))
    for master in args.masters:
        tag = master.replace("[", "").replace("]", "").replace("*", "all")
        outs = (args.out_dir / f"{tag}_pairs.csv", args.out_dir / f"{tag}_clusters.csv")
        wall = run(
            [
                dupeguard,
                "scan",
                str(data),
                "--engine",
                "spark",
                "--spark-master",
                master,
                "--out",
                str(outs[0]),
                "--clusters",
                str(outs[1]),
            ],
            args.out_dir / f"{tag}.log",
        )
        same = all(filecmp.cmp(a, b, shallow=False) for a, b in zip(outs, ref, strict=True))
        print(f"spark {master}: {wall:.1f} s, same files: {same}", file=sys.stderr, flush=True)
        rows.append((f"Spark engine, `{master}`", cores(master), wall, same))
    summary = (args.out_dir / "local.log").read_text().strip().splitlines()[-1]
    lines = [
        "",
        f"## Spark engine scaling ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.n:,} synthetic contacts, seed 1)",
        "",
        f"- machine: {platform.platform()}, {os.cpu_count()} logical CPUs, shared and noisy "
        "(other sessions were running on it during the run)",
        f"- local engine: {summary}",
        "",
        "| run | cores | wall s | records / s | records / core-second | same files as local |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, c, wall, same in rows:
        flag = "—" if same is None else ("yes" if same else "NO")
        lines.append(
            f"| {name} | {c} | {wall:.1f} | {args.n / wall:,.0f} | {args.n / wall / c:,.0f} "
            f"| {flag} |"
        )
    with args.results.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
