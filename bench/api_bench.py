"""Service benchmark: load records through the API, then detect-duplicates over them.

Starts `dupeguard serve` on loopback (a fresh SQLite file, or a fresh PostgreSQL database),
creates a workspace with the CLI, loads N synthetic contacts through
`POST /v1/entities/contact/records/bulk` (10,000 rows a call) and, for comparison, a sample
through single `POST /v1/entities/contact/records` calls, then times
`POST /v1/ai/detect-duplicates` over everything stored. Loopback only; bounded in count and time.

Usage::

    python bench/api_bench.py --records 100000 [--database sqlite|postgresql] [--single 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from dupeguard.synthetic import generate_contacts

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get("DUPEGUARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _database(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}", None
    name = f"dg_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["psql", f"{POSTGRES_ADMIN}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
    )
    return f"{POSTGRES_ADMIN}/{name}", name


def _drop(name: str | None) -> None:
    if name:
        subprocess.run(
            ["psql", f"{POSTGRES_ADMIN}/postgres", "-qc", f"DROP DATABASE {name}"], check=False
        )


def _cli(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def run(records: int, database: str, single: int) -> dict[str, float | int | str]:
    workdir = REPO / "bench" / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    url, created = _database(database, workdir)
    env = {**os.environ, "DUPEGUARD_DATABASE_URL": url, "DUPEGUARD_RATE_LIMIT": "100000/minute"}
    log = workdir / f"serve-{database}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "dupeguard.cli", "serve", "--port", "0"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = None
        deadline = time.monotonic() + 60
        while base is None and time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:\d+", log.read_text())
            base = found.group(0) if found else None
            time.sleep(0.1)
        if base is None:
            raise RuntimeError("the server did not start")
        workspace = _cli(env, "workspace", "create", "Bench", "--credits", "1000")
        headers = {"Authorization": f"Bearer {workspace['api_key']}"}
        frame, _ = generate_contacts(records + single, seed=3)
        rows = [
            {"data": {k: v for k, v in row.items() if v not in (None, "")}}
            for row in frame.drop("id", "created_at").iter_rows(named=True)
        ]
        bulk_rows, single_rows = rows[:records], rows[records:]
        with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
            started = time.perf_counter()
            for start in range(0, len(bulk_rows), 10_000):
                response = http.post(
                    "/v1/entities/contact/records/bulk",
                    json={"records": bulk_rows[start : start + 10_000]},
                )
                response.raise_for_status()
            bulk_s = time.perf_counter() - started
            started = time.perf_counter()
            for row in single_rows:
                http.post("/v1/entities/contact/records", json=row).raise_for_status()
            single_s = time.perf_counter() - started
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                response = http.post(
                    "/v1/ai/detect-duplicates", json={"entity_type": "contact", "limit": 1000}
                )
                response.raise_for_status()
                timings.append(time.perf_counter() - started)
            data = response.json()["data"]
        return {
            "database": database,
            "records": records + single,
            "bulk_rows_per_s": round(records / bulk_s),
            "bulk_load_s": round(bulk_s, 1),
            "single_rows_per_s": round(single / single_s) if single else 0,
            "load_100k_single_estimate_s": round(100_000 / (single / single_s)) if single else 0,
            "detect_s_median": round(sorted(timings)[1], 2),
            "detect_s_all": ", ".join(f"{t:.2f}" for t in timings),
            "pairs_returned": len(data["pairs"]),
            "total_candidates": data["total_candidates"],
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        _drop(created)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--single", type=int, default=2_000, help="rows loaded one call each")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.records, args.database, args.single), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
