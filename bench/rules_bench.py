"""Duplicate-rules benchmark (issue 5): rule-checked saves, and a duplicate job by matching rule
against ``dupeguard scan`` on the same records.

On a fresh SQLite file in /tmp:

1. a workspace whose standard contact duplicate rule is switched to ``block`` on create; then
   ``--stored`` synthetic contacts (``dupeguard.synthetic``, true duplicates included) loaded
   through ``intake.submit_many`` in 10,000-row batches with ``allow_save`` (so the stored
   duplicates stay, as in a CRM that never had rules) — every row is rule-checked on the way;
2. ``--calls`` single ``intake.submit`` calls, each in a fresh ``session_scope`` (commit
   included), half new contacts, half stored contacts with a typo in the first name (the rule
   blocks them, the audit entry is committed), after 200 warm-up calls; p50/p95/p99;
3. a duplicate job by the standard contact matching rule (``duplicate_jobs.run_job``), and
   ``dupeguard scan`` (the CLI, a subprocess) over the same live records exported to Parquet;
   wall times side by side.

Usage::

    python bench/rules_bench.py --stored 200000 --calls 2000
    python bench/rules_bench.py --stored 1000000 --calls 2000 --reuse /tmp/dupeguard-rules-bench-…
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.core.errors import DuplicatesDetected
from dupeguard.services import duplicate_jobs, intake, rules
from dupeguard.services.setup import prepare
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import make_engine, session_scope
from dupeguard.store.tables import DuplicateJob, Record, RecordKey, Workspace, new_id, utcnow
from dupeguard.synthetic import generate_contacts

RESULTS = Path(__file__).with_name("RESULTS.md")


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _rows(frame: pl.DataFrame) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in ("id", "created_at") and v}
        for r in frame.iter_rows(named=True)
    ]


def _insert_direct(sessions: sessionmaker[Session], ws: str, batch: list[dict]) -> None:
    """Records and their key rows (the rules' blocking keys), as intake would write them."""
    with session_scope(sessions) as s:
        schema = intake.load_schema(session=s, workspace_id=ws, entity="contact")
        now = utcnow()
        records, keys = [], []
        for data, indexed in zip(batch, schema.index_values_many(batch), strict=True):
            record_id = new_id()
            records.append(
                {
                    "id": record_id,
                    "workspace_id": ws,
                    "entity_id": schema.entity_id,
                    "data": data,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
            keys.extend(
                {
                    "record_id": record_id,
                    "key": key,
                    "workspace_id": ws,
                    "entity_id": schema.entity_id,
                    "value": value,
                }
                for key, value in indexed.items()
            )
        s.execute(Record.__table__.insert(), records)
        s.execute(RecordKey.__table__.insert(), keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--fresh-seed",
        type=int,
        default=99,
        help="seed of the new contacts saved (change it with --reuse: earlier runs saved them)",
    )
    parser.add_argument(
        "--reuse", metavar="DIR", help="skip the load: the bench.db an earlier run left in DIR"
    )
    parser.add_argument(
        "--load",
        choices=["intake", "direct"],
        default="intake",
        help="how the stored contacts are written: through intake (rule-checked), or with Core "
        "inserts of the records and their key rows (what intake writes, minus the checks)",
    )
    args = parser.parse_args()

    if args.reuse:  # a store an earlier run of this script loaded (its workspace and rule)
        tmp = Path(args.reuse)
        sessions = prepare(make_engine(f"sqlite:///{tmp / 'bench.db'}"))
        with session_scope(sessions) as s:
            ws = s.scalars(select(Workspace.id)).one()
        records, _ = generate_contacts(args.stored, seed=7)
        rows = _rows(records)
        load_s = float("nan")
        _log(f"reusing the store in {tmp}")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="dupeguard-rules-bench-"))
        sessions = prepare(make_engine(f"sqlite:///{tmp / 'bench.db'}"))
        with session_scope(sessions) as s:
            ws = create_workspace(session=s, name="bench").id
            rules.update_duplicate_rule(
                session=s,
                workspace_id=ws,
                entity="contact",
                rule_id="Standard contact duplicate rule",
                body={"action_on_create": "block"},
            )
        records, _ = generate_contacts(args.stored, seed=7)
        rows = _rows(records)
        _log(f"loading {len(rows):,} contacts ({args.load})")
        started = time.perf_counter()
        for start in range(0, len(rows), 10_000):
            if args.load == "direct":
                _insert_direct(sessions, ws, rows[start : start + 10_000])
                continue
            with session_scope(sessions) as s:
                intake.submit_many(
                    session=s,
                    workspace_id=ws,
                    entity="contact",
                    rows=[intake.Inbound(r) for r in rows[start : start + 10_000]],
                    source="import",
                    mode="off",
                    allow_save=True,
                )
        load_s = time.perf_counter() - started
        _log(f"loaded in {load_s:.1f} s")

    rng = random.Random(11)
    fresh, _ = generate_contacts(args.calls + 200, seed=args.fresh_seed)
    new_rows = _rows(fresh)

    def typo(row: dict) -> dict:
        out = dict(row)
        name = out.get("first_name") or "x"
        out["first_name"] = name[:-1] + ("e" if name[-1:] != "e" else "a")
        return out

    def one(data: dict) -> tuple[float, str]:
        t = time.perf_counter()
        try:
            with session_scope(sessions) as s:
                outcome = intake.submit(
                    session=s,
                    workspace_id=ws,
                    entity="contact",
                    inbound=intake.Inbound(data),
                    source="api",
                )
            result = outcome.decision
        except DuplicatesDetected:
            result = "blocked"
        return (time.perf_counter() - t) * 1000, result

    plan = [new_rows[i] for i in range(args.calls // 2 + 100)] + [
        typo(rng.choice(rows)) for _ in range(args.calls - args.calls // 2 + 100)
    ]
    rng.shuffle(plan)
    for data in plan[:200]:
        one(data)
    timings, results = [], {}
    for data in plan[200:]:
        ms, result = one(data)
        timings.append(ms)
        results[result] = results.get(result, 0) + 1
    p50, p95, p99 = np.percentile(timings, [50, 95, 99])
    _log(f"saves p50 {p50:.2f} p95 {p95:.2f} p99 {p99:.2f} ms; {results}")

    with session_scope(sessions) as s:
        job = duplicate_jobs.create(
            session=s,
            workspace_id=ws,
            entity="contact",
            method="rule",
            matching_rule_id="Standard contact matching rule",
        )
        job_id = job.id
    started = time.perf_counter()
    status = duplicate_jobs.run_job(sessions, job_id)
    job_s = time.perf_counter() - started
    with session_scope(sessions) as s:
        job = s.get(DuplicateJob, job_id)
        job_pairs, job_sets, scanned = job.pairs_found, job.sets_found, job.records_scanned
        live = [
            {"id": rid, **data}
            for rid, data in s.execute(
                select(Record.id, Record.data).where(Record.deleted_at.is_(None))
            )
        ]
    _log(f"job {status} in {job_s:.1f} s: {job_pairs:,} pairs, {job_sets:,} sets")
    parquet = tmp / "live.parquet"
    pl.DataFrame(live, infer_schema_length=None).write_parquet(parquet)
    del live
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).with_name("dupeguard")),
            "scan",
            str(parquet),
            "--out",
            str(tmp / "pairs.csv"),
            "-q",
        ],
        check=True,
    )
    scan_s = time.perf_counter() - started
    scan_pairs = pl.read_csv(tmp / "pairs.csv").height
    _log(f"dupeguard scan in {scan_s:.1f} s: {scan_pairs:,} pairs")

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = (
        f"{load_s:.1f} s ({args.stored / load_s:,.0f} rows/s)"
        if load_s == load_s
        else "reused from an earlier run (`--reuse`)"
    )
    load_how = (
        "Core inserts of records and key rows, `--load direct`"
        if args.load == "direct"
        else "through `submit_many`, 10k rows/batch, rule-checked"
    )
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(results.items()))
    job = f"{job_s:.1f} s ({job_pairs:,} pairs, {job_sets:,} sets, {scanned:,} records)"
    scan = f"{scan_s:.1f} s ({scan_pairs:,} pairs)"
    reuse = f" --reuse … --fresh-seed {args.fresh_seed}" if args.reuse else ""
    reuse += " --load direct" if args.load == "direct" else ""
    section = f"""
### Duplicate rules at {args.stored:,} stored contacts ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)

- machine: {platform.platform()}, {os.cpu_count()} logical CPUs; shared with other jobs, noisy
- dupeguard at {commit}; SQLite file in /tmp
- command: `bench/rules_bench.py --stored {args.stored} --calls {args.calls}{reuse}`
- standard contact matching rule (e-mail, or first name + last name + phone / company / street),
  its duplicate rule set to block on create; stored contacts (true duplicates included) kept
  whole ({load_how}); saves: half new contacts, half stored ones with a first-name typo

| figure | target | value |
|---|---|---:|
| load | | {load} |
| rule-checked save p50 / p95 / p99 | p99 ≤ 30 ms (at 1M) | {p50:.2f} / {p95:.2f} / {p99:.2f} ms |
| save outcomes | | {outcomes} |
| duplicate job by matching rule | ≤ 2 × scan | {job} |
| `dupeguard scan` (CLI, Parquet of the same live records) | | {scan} |
| job / scan | ≤ 2.0 | {job_s / scan_s:.2f} |
"""
    print(section)
    if not args.no_write:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(section)


if __name__ == "__main__":
    main()
