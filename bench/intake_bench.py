"""Intake benchmark (issue 4): API intake decisions and a CSV import against a large entity.

For each database (a fresh SQLite file in /tmp, or a fresh schema in the PostgreSQL test
database, dropped afterwards) it:

1. creates a workspace, makes ``email`` then ``phone`` the contact entity's match keys, and
   loads ``--stored`` synthetic contacts (``dupeguard.synthetic``) through
   ``intake.submit_many`` in batches of 10,000 rows, each batch its own ``session_scope``
   (source ``import``, mode ``skip``, so the stored key values are unique and later decisions
   are ``created``/``skipped``/``updated``, never ``conflict``); with ``--load direct`` the
   same records (a row is kept only when none of its key values is stored yet, as intake's
   skip would decide) are written with Core inserts instead — records, their ``record_keys``
   rows and one ``created`` activity each, no webhook events (the bench workspace has no
   webhooks) — which is several times faster and leaves the same tables, then PostgreSQL
   gets one ``ANALYZE``;
2. times ``--calls`` single ``intake.submit`` calls (source ``api``; each in a fresh
   ``session_scope``, commit included), a shuffled mix of one third new records (created),
   one third stored records re-sent (mode skip: skipped) and one third stored records with a
   changed city (mode update: updated), after a warm-up; ``--rounds`` rounds, medians;
3. imports a ``--import-rows`` CSV through ``services.imports`` (upload → set_mapping →
   preview ×``--previews`` → start + run): 30 % rows matching stored records by e-mail (some
   upper-cased, half with a changed company), 5 % in-file repeats of earlier rows, 5 % new
   rows with an empty e-mail, the rest new; import action ``--import-mode``.

Prints a markdown table and appends a dated section to ``bench/RESULTS.md``. With
``--db both`` each database runs in its own child process, so each peak RSS is its own.

Usage::

    python bench/intake_bench.py                                   # smoke: 20k stored, 2k rows
    python bench/intake_bench.py --stored 1000000 --import-rows 100000 --db both --calls 2000
    python bench/intake_bench.py --stored 1000000 --import-rows 100000 --db both --load direct
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.core.fields import FieldType
from dupeguard.core.keys import key_value
from dupeguard.services import imports, intake
from dupeguard.services.entities import set_match_keys
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.checkpoint import WalCheckpointer
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for
from dupeguard.store.tables import Activity, Entity, Record, RecordKey, Workspace, new_id, utcnow
from dupeguard.synthetic import generate_contacts

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "DUPEGUARD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENTITY = "contact"
KEYS = ["email", "phone"]
LOAD_BATCH = 10_000
GEN_CHUNK = 250_000
FIELDS = ("first_name", "last_name", "email", "phone", "company", "street", "city", "state", "zip")
HEADER = ("First Name", "Last Name", "Email", "Phone", "Company", "Street", "City", "State", "Zip")
TARGET_P99_MS = 20.0
TARGET_PREVIEW_S = 10.0
TARGET_RUN_S = 60.0


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- databases -----------------------------------------------------------------------------


class Database:
    """A fresh, migrated database; ``close`` removes it."""

    def __init__(
        self, kind: str, copy_of: Path | None = None, *, background_checkpoints: bool = True
    ) -> None:
        self.kind = kind
        self.schema: str | None = None
        self.path: Path | None = None
        if kind == "sqlite":
            self.path = Path(tempfile.gettempdir()) / f"dg-intake-{uuid.uuid4().hex[:8]}.db"
            if copy_of is not None:  # a store an earlier run kept (--keep): work on a copy
                for suffix in ("", "-wal", "-shm"):
                    if Path(f"{copy_of}{suffix}").exists():
                        shutil.copy(f"{copy_of}{suffix}", f"{self.path}{suffix}")
            self.url = f"sqlite:///{self.path}"
        else:
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            self.admin = create_engine(POSTGRES_URL)
            with self.admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            sep = "&" if "?" in POSTGRES_URL else "?"
            self.url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{self.schema}"
        # as the server makes and runs it: SQLite checkpoints in a background thread (or, with
        # background_checkpoints=False, SQLite's default: in the commit that fills the log)
        self.engine: Engine = make_engine(self.url, background_checkpoints=background_checkpoints)
        upgrade(self.engine)
        self.sessions: sessionmaker[Session] = sessionmaker_for(self.engine)
        self.checkpointer = (
            WalCheckpointer.for_engine(self.engine) if background_checkpoints else None
        )
        if self.checkpointer is not None:
            self.checkpointer.start()

    def autovacuum(self) -> bool:
        """Whether the server analyses tables by itself (the local test server may not)."""
        if self.schema is None:
            return True
        with self.admin.connect() as conn:
            return conn.execute(text("SHOW autovacuum")).scalar() == "on"

    def analyze(self) -> float:
        """ANALYZE the tables intake reads (PostgreSQL); returns the seconds it took."""
        if self.schema is None:
            return 0.0
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            conn.execute(text("ANALYZE records, record_keys"))
        return time.perf_counter() - t0

    def size_mib(self) -> float:
        if self.path is not None:
            return sum(
                p.stat().st_size / 2**20
                for p in self.path.parent.glob(self.path.name + "*")
                if p.exists()
            )
        with self.admin.connect() as conn:
            size = conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relkind = 'r'"
                ),
                {"s": self.schema},
            ).scalar()
        return float(size or 0) / 2**20

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        if self.path is not None:
            for p in self.path.parent.glob(self.path.name + "*"):
                p.unlink(missing_ok=True)
        else:
            with self.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()


# --- synthetic rows ------------------------------------------------------------------------


def _rows(seed: int, chunk: int) -> Iterator[dict[str, str]]:
    """Synthetic contact rows (no empty values), chunk after chunk, seeds ``seed``, +1, …"""
    while True:
        frame, _ = generate_contacts(chunk, seed=seed)
        for row in frame.select(FIELDS).iter_rows(named=True):
            yield {k: v for k, v in row.items() if v not in (None, "")}
        del frame
        seed += 1


def _keys(data: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for name, ftype in (("email", FieldType.EMAIL), ("phone", FieldType.PHONE)):
        value = key_value(ftype, data.get(name))
        if value is not None:
            out.append((name, value))
    return out


def load(db: Database, workspace_id: str, stored: int, rows: Iterator[dict[str, str]]) -> dict:
    """Feed rows in batches of LOAD_BATCH until ``stored`` records exist; time the intake."""
    created = fed = 0
    intake_s = analyze_s = 0.0
    analyzed_at = 0
    emulate = not db.autovacuum()
    rates: list[float] = []
    started = time.perf_counter()
    while created < stored:
        if emulate and created - analyzed_at > 50 + 0.1 * analyzed_at:
            # what autovacuum's default rule (50 rows + 10 % changed) would have done by now
            analyze_s += db.analyze()
            analyzed_at = created
        batch = [intake.Inbound(data=next(rows)) for _ in range(min(LOAD_BATCH, stored - created))]
        t0 = time.perf_counter()
        with session_scope(db.sessions) as session:
            results = intake.submit_many(
                session=session,
                workspace_id=workspace_id,
                entity=ENTITY,
                rows=batch,
                source="import",
                mode="skip",
            )
        elapsed = time.perf_counter() - t0
        intake_s += elapsed
        if len(batch) == LOAD_BATCH:
            rates.append(len(batch) / elapsed)
        fed += len(batch)
        created += sum(1 for r in results if getattr(r, "decision", None) == "created")
        if len(rates) % 20 == 0:
            _log(f"{db.kind}: {created:,} stored ({fed:,} fed), {len(batch) / elapsed:,.0f} rows/s")
    if emulate:
        analyze_s += db.analyze()
    wall = time.perf_counter() - started
    return {
        "load": "intake",
        "analyze_emulated": emulate,
        "analyze_s": analyze_s,
        "stored": created,
        "fed": fed,
        "load_intake_s": intake_s,
        "load_wall_s": wall,
        "load_rows_per_s": fed / intake_s,
        "load_first_rows_per_s": float(np.median(rates[:5])),
        "load_last_rows_per_s": float(np.median(rates[-5:])),
    }


def load_direct(
    db: Database, workspace_id: str, stored: int, rows: Iterator[dict[str, str]]
) -> dict:
    """The store :func:`load` builds, written with Core inserts (no intake): a row is kept
    when none of its key values is stored yet; records, key rows (match keys and the duplicate
    rules' blocking keys) and activities."""
    with session_scope(db.sessions) as session:
        schema = intake.load_schema(session=session, workspace_id=workspace_id, entity=ENTITY)
    seen: set[tuple[str, str]] = set()
    created = fed = 0
    started = time.perf_counter()
    while created < stored:
        batch = [next(rows) for _ in range(LOAD_BATCH)]
        fed += len(batch)
        records: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        now = utcnow()
        # match-key values decide what is kept; the index rows also hold the blocking-key
        # values of the duplicate rules (the standard contact rule is active), as intake writes
        for data, found, indexed in zip(
            batch, schema.key_values_many(batch), schema.index_values_many(batch), strict=True
        ):
            if created + len(records) >= stored or seen.intersection(found.items()):
                continue
            seen.update(found.items())
            record_id = new_id()
            records.append(
                {
                    "id": record_id,
                    "workspace_id": workspace_id,
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
                    "workspace_id": workspace_id,
                    "entity_id": schema.entity_id,
                    "value": value,
                }
                for key, value in indexed.items()
            )
            activities.append(
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "record_id": record_id,
                    "kind": "created",
                    "source": "import",
                    "changes": {},
                    "details": {},
                    "created_at": now,
                }
            )
        with db.engine.begin() as conn:
            for table, batch_rows in ((Record, records), (RecordKey, keys), (Activity, activities)):
                if batch_rows:
                    conn.execute(table.__table__.insert(), batch_rows)
        created += len(records)
        if (fed // LOAD_BATCH) % 20 == 0:
            _log(f"{db.kind}: {created:,} stored directly ({fed:,} generated)")
    analyze_s = db.analyze()
    wall = time.perf_counter() - started
    return {
        "load": "direct",
        "analyze_emulated": db.schema is not None,
        "analyze_s": analyze_s,
        "stored": created,
        "fed": fed,
        "load_wall_s": wall,
    }


def new_rows(
    db: Database, workspace_id: str, rows: Iterator[dict[str, str]], n: int
) -> list[dict[str, str]]:
    """``n`` rows matching no stored record and no other returned row (checked by a dry run)."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(out) < n:
        batch = [next(rows) for _ in range(LOAD_BATCH)]
        with session_scope(db.sessions) as session:
            decided = intake.submit_many(
                session=session,
                workspace_id=workspace_id,
                entity=ENTITY,
                rows=[intake.Inbound(data=r) for r in batch],
                source="import",
                mode="skip",
                dry_run=True,
            )
            session.rollback()
        for row, outcome in zip(batch, decided, strict=True):
            keys = _keys(row)
            if (
                getattr(outcome, "decision", None) == "created"
                and not outcome.matches
                and keys
                and not seen.intersection(keys)
            ):
                seen.update(keys)
                out.append(row)
                if len(out) == n:
                    break
    return out


def stored_sample(db: Database, workspace_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random stored records that have an e-mail (their data)."""
    with session_scope(db.sessions) as session:
        entity_id = session.scalar(
            select(Entity.id).where(Entity.workspace_id == workspace_id, Entity.name == ENTITY)
        )
        found = [
            dict(data)
            for (data,) in session.execute(
                select(Record.data)
                .where(Record.workspace_id == workspace_id, Record.entity_id == entity_id)
                .order_by(func.random())
                .limit(int(n * 1.2) + 100)
            )
            if data.get("email")
        ]
    random.Random(seed).shuffle(found)
    if len(found) < n:
        raise RuntimeError(f"only {len(found)} stored records with an e-mail")
    return found[:n]


# --- API intake ----------------------------------------------------------------------------


def _api_tasks(
    fresh: list[dict[str, str]], stored: list[dict[str, Any]], tag: str, rng: random.Random
) -> list[tuple[str, str, dict[str, Any]]]:
    """(expected decision, mode, data): created / skipped / updated in equal shares."""
    tasks: list[tuple[str, str, dict[str, Any]]] = []
    half = len(stored) // 2
    tasks += [("created", "skip", row) for row in fresh]
    tasks += [("skipped", "skip", row) for row in stored[:half]]
    tasks += [
        ("updated", "update", {**row, "city": f"Bench City {tag}-{i}"})
        for i, row in enumerate(stored[half:])
    ]
    rng.shuffle(tasks)
    return tasks


def api_calls(
    db: Database,
    workspace_id: str,
    fresh: list[dict[str, str]],
    stored: list[dict[str, Any]],
    calls: int,
    rounds: int,
    warmup: int,
    seed: int,
) -> dict:
    rng = random.Random(seed)
    n_new = calls // 3

    def run(tasks: list[tuple[str, str, dict[str, Any]]]) -> tuple[list[float], dict[str, int]]:
        times: list[float] = []
        decisions: dict[str, int] = {}
        for expected, mode, data in tasks:
            t0 = time.perf_counter()
            with session_scope(db.sessions) as session:
                outcome = intake.submit(
                    session=session,
                    workspace_id=workspace_id,
                    entity=ENTITY,
                    inbound=intake.Inbound(data=data),
                    source="api",
                    mode=mode,
                )
            times.append((time.perf_counter() - t0) * 1000)
            decisions[outcome.decision] = decisions.get(outcome.decision, 0) + 1
            if outcome.decision != expected:
                decisions[f"unexpected {expected}->{outcome.decision}"] = (
                    decisions.get(f"unexpected {expected}->{outcome.decision}", 0) + 1
                )
        return times, decisions

    # `dupeguard serve` freezes its start-up heap (gc.freeze); this process freezes what it
    # holds now (generated rows, samples) the same way, so a full collection during the timed
    # calls walks what the calls made, as in the server, and not the bench's own data
    gc.collect()
    gc.freeze()
    warm_new, fresh = fresh[: warmup // 3], fresh[warmup // 3 :]
    run(_api_tasks(warm_new, stored[: warmup - len(warm_new)], "warm", rng))
    per_round = []
    all_decisions: dict[str, int] = {}
    for r in range(rounds):
        round_new = fresh[r * n_new : (r + 1) * n_new]
        tasks = _api_tasks(round_new, stored[: calls - len(round_new)], f"r{r}", rng)
        times, decisions = run(tasks)
        for k, v in decisions.items():
            all_decisions[k] = all_decisions.get(k, 0) + v
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        per_round.append((p50, p95, p99, max(times)))
        _log(f"{db.kind}: API round {r + 1}: p50 {p50:.2f} p95 {p95:.2f} p99 {p99:.2f} ms")
    gc.unfreeze()
    cols = list(zip(*per_round, strict=True))
    return {
        "api_p50_ms": float(np.median(cols[0])),
        "api_p95_ms": float(np.median(cols[1])),
        "api_p99_ms": float(np.median(cols[2])),
        "api_max_ms": float(np.median(cols[3])),
        "api_p99_rounds": [round(x, 2) for x in cols[2]],
        "api_decisions": all_decisions,
    }


# --- CSV import ----------------------------------------------------------------------------


def import_csv(
    fresh: list[dict[str, str]], stored: list[dict[str, Any]], n: int, seed: int
) -> tuple[bytes, dict[str, int]]:
    """``n`` rows: 30 % matching stored records by e-mail, 5 % in-file repeats, 5 % new rows
    with an empty e-mail, the rest new; shuffled (a repeat always after its original)."""
    rng = random.Random(seed)
    n_match = int(n * 0.30)
    n_repeat = int(n * 0.05)
    n_blank = int(n * 0.05)
    n_new = n - n_match - n_repeat - n_blank
    match = []
    for i, row in enumerate(stored[:n_match]):
        row = dict(row)
        if i % 2:
            row["company"] = f"Imported Co {i}"
        if i % 5 == 0:
            row["email"] = row["email"].upper()
        match.append(row)
    new = fresh[:n_new]
    blank = [{**r, "email": ""} for r in fresh[n_new : n_new + n_blank]]
    if len(new) + len(blank) < n_new + n_blank:
        raise RuntimeError("not enough new rows")
    base = match + new + blank
    positioned = sorted(((rng.random(), i, row) for i, row in enumerate(base)), key=lambda t: t[0])
    position_of_new = [p for p, i, _ in positioned if n_match <= i < n_match + n_new]
    repeats = []
    for j in range(n_repeat):
        k = rng.randrange(len(position_of_new))
        original = new[k]
        row = dict(original)
        if j % 2 and row.get("email"):
            row["email"] = row["email"].upper()
        if j % 3 == 0:
            row["city"] = f"Moved City {j}"
        p = position_of_new[k]
        repeats.append((p + (1 - p) * rng.random(), -1, row))
    rows = [row for _, _, row in sorted(positioned + repeats, key=lambda t: t[0])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(f) or "" for f in FIELDS])
    composition = {"matching": n_match, "repeats": n_repeat, "empty_email": n_blank, "new": n_new}
    return buffer.getvalue().encode(), composition


def run_import(
    db: Database, workspace_id: str, content: bytes, mode: str, previews: int
) -> dict[str, Any]:
    t0 = time.perf_counter()
    with session_scope(db.sessions) as session:
        item = imports.upload(
            session=session,
            workspace_id=workspace_id,
            entity=ENTITY,
            filename="bench.csv",
            content=content,
        )
        import_id = item.id
    upload_s = time.perf_counter() - t0
    with session_scope(db.sessions) as session:
        imports.set_mapping(
            session=session,
            workspace_id=workspace_id,
            import_id=import_id,
            mapping=dict(zip(HEADER, FIELDS, strict=True)),
            dedup_mode=mode,
        )
    preview_times = []
    predicted: dict[str, int] = {}
    for i in range(previews):
        t0 = time.perf_counter()
        result = imports.preview(
            sessions=db.sessions, workspace_id=workspace_id, import_id=import_id
        )
        preview_times.append(time.perf_counter() - t0)
        predicted = result.counts
        _log(f"{db.kind}: preview {i + 1}: {preview_times[-1]:.2f} s {predicted}")
    t0 = time.perf_counter()
    with session_scope(db.sessions) as session:
        imports.start(session=session, workspace_id=workspace_id, import_id=import_id)
    status = imports.run(db.sessions, import_id)
    run_s = time.perf_counter() - t0
    with session_scope(db.sessions) as session:
        counts = dict(
            imports.get(session=session, workspace_id=workspace_id, import_id=import_id).counts
        )
    _log(f"{db.kind}: import {status} in {run_s:.2f} s {counts}")
    return {
        "import_upload_s": upload_s,
        "import_preview_s": float(np.median(preview_times)),
        "import_preview_all_s": [round(t, 2) for t in preview_times],
        "import_run_s": run_s,
        "import_status": status,
        "import_counts": {k: v for k, v in counts.items() if v},
        "import_predicted": {k: v for k, v in predicted.items() if v},
    }


# --- one database --------------------------------------------------------------------------


def bench(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    result: dict[str, Any] = {"db": kind}
    db = Database(kind, copy_of=args.reuse, background_checkpoints=not args.commit_checkpoints)
    try:
        if args.reuse:
            with session_scope(db.sessions) as session:
                workspace_id = session.scalars(select(Workspace.id)).one()
            # new rows from other seeds (new_rows keeps only rows that match nothing stored)
            rows = _rows(args.seed + 1000, GEN_CHUNK)
            with session_scope(db.sessions) as session:
                stored = session.scalar(select(func.count()).select_from(Record)) or 0
            result.update(
                {
                    "load": "reused",
                    "stored": stored,
                    "load_wall_s": 0.0,
                    "fed": 0,
                    "analyze_emulated": False,
                }
            )
            _log(f"{kind}: reusing a copy of {args.reuse} ({stored:,} records)")
        else:
            with session_scope(db.sessions) as session:
                workspace_id = create_workspace(session=session, name="Intake bench").id
            with session_scope(db.sessions) as session:
                set_match_keys(
                    session=session, workspace_id=workspace_id, entity=ENTITY, fields=KEYS
                )
            rows = _rows(args.seed, min(GEN_CHUNK, max(20_000, args.stored // 2)))
            _log(f"{kind}: loading {args.stored:,} records")
            loader = load_direct if args.load == "direct" else load
            result.update(loader(db, workspace_id, args.stored, rows))
            if args.keep:
                shutil.copy(db.path or "", args.keep)
                _log(f"{kind}: kept a copy of the loaded store in {args.keep}")
        result["rss_after_load_mib"] = _rss_mib()
        result["db_size_mib"] = db.size_mib()
        _log(f"{kind}: loaded in {result['load_wall_s']:.1f} s; {result['db_size_mib']:.0f} MiB")

        warm_new = args.warmup // 3
        n_api_new = warm_new + args.rounds * (args.calls // 3)
        n_import_new = args.import_rows - int(args.import_rows * 0.30)
        fresh = new_rows(db, workspace_id, rows, n_api_new + n_import_new)
        sample = stored_sample(
            db, workspace_id, max(args.calls, args.warmup) + int(args.import_rows * 0.3), args.seed
        )
        api_stored = sample[: max(args.calls, args.warmup)]
        import_stored = sample[max(args.calls, args.warmup) :]

        result.update(
            api_calls(
                db,
                workspace_id,
                fresh[:n_api_new],
                api_stored,
                args.calls,
                args.rounds,
                args.warmup,
                args.seed,
            )
        )
        result["rss_after_api_mib"] = _rss_mib()

        content, composition = import_csv(
            fresh[n_api_new:], import_stored, args.import_rows, args.seed
        )
        result["import_rows"] = args.import_rows
        result["import_mib"] = len(content) / 2**20
        result["import_composition"] = composition
        result.update(run_import(db, workspace_id, content, args.import_mode, args.previews))
        result["peak_rss_mib"] = _rss_mib()
    finally:
        db.close()
    return result


# --- reporting -----------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) / 2**20
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = 0.0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs, {mem:.1f} GiB RAM; "
        f"shared with other running jobs (load average at the end {load}), so timings are noisy"
    )


def _commit() -> str:
    def git(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain") else "")


def _met(value: float, target: float) -> str:
    return "yes" if value <= target else "**no**"


def table(results: list[dict[str, Any]]) -> str:
    head = "| figure | target | " + " | ".join(r["db"] for r in results) + " |"
    lines = [head, "|---|---|" + "---:|" * len(results)]

    def row(label: str, target: str, cells: list[str]) -> None:
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")

    row("stored records", "", [f"{r['stored']:,}" for r in results])
    row(
        "load through `submit_many` (10k rows/batch), intake time",
        "",
        [
            f"{r['load_intake_s']:.1f} s ({r['fed']:,} rows fed, "
            f"{r['load_rows_per_s']:,.0f} rows/s; first/last batches "
            f"{r['load_first_rows_per_s']:,.0f}/{r['load_last_rows_per_s']:,.0f})"
            if r.get("load", "intake") == "intake"
            else "not used: a copy of a store kept by an earlier run (`--reuse`)"
            if r.get("load") == "reused"
            else f"not used: Core inserts (`--load direct`, {r['fed']:,} rows generated)"
            for r in results
        ],
    )
    row(
        "ANALYZE during load (autovacuum's default rule; the server has autovacuum off)",
        "",
        [
            (
                f"{r['analyze_s']:.1f} s"
                + (" (once, after the direct load)" if r.get("load") == "direct" else "")
            )
            if r["analyze_emulated"]
            else "not needed"
            for r in results
        ],
    )
    row("load wall (generation included)", "", [f"{r['load_wall_s']:.0f} s" for r in results])
    row("database size after load", "", [f"{r['db_size_mib']:,.0f} MiB" for r in results])
    row("API intake p50", "", [f"{r['api_p50_ms']:.2f} ms" for r in results])
    row("API intake p95", "", [f"{r['api_p95_ms']:.2f} ms" for r in results])
    row(
        "API intake p99",
        f"≤ {TARGET_P99_MS:g} ms",
        [
            f"{r['api_p99_ms']:.2f} ms ({_met(r['api_p99_ms'], TARGET_P99_MS)}; rounds "
            f"{', '.join(str(x) for x in r['api_p99_rounds'])})"
            for r in results
        ],
    )
    row("API intake max (median of rounds)", "", [f"{r['api_max_ms']:.1f} ms" for r in results])
    row(
        "API decisions (all rounds)",
        "",
        [", ".join(f"{k} {v:,}" for k, v in sorted(r["api_decisions"].items())) for r in results],
    )
    row(
        "CSV import rows",
        "",
        [f"{r['import_rows']:,} ({r['import_mib']:.1f} MiB)" for r in results],
    )
    row("upload (check + store)", "", [f"{r['import_upload_s']:.2f} s" for r in results])
    row(
        "preview (median)",
        f"≤ {TARGET_PREVIEW_S:g} s",
        [
            f"{r['import_preview_s']:.2f} s ({_met(r['import_preview_s'], TARGET_PREVIEW_S)}; "
            f"{', '.join(str(x) for x in r['import_preview_all_s'])})"
            for r in results
        ],
    )
    row(
        "complete (start + run)",
        f"≤ {TARGET_RUN_S:g} s",
        [
            f"{r['import_run_s']:.2f} s ({_met(r['import_run_s'], TARGET_RUN_S)}; "
            f"{r['import_status']})"
            for r in results
        ],
    )
    row(
        "import decisions",
        "",
        [", ".join(f"{k} {v:,}" for k, v in sorted(r["import_counts"].items())) for r in results],
    )
    row("peak RSS (bench process)", "", [f"{r['peak_rss_mib']:,.0f} MiB" for r in results])
    return "\n".join(lines)


_DB_NAMES = {"sqlite": "SQLite (file in /tmp, WAL)", "postgresql": "PostgreSQL 15 (fresh schema)"}


def _load_text(args: argparse.Namespace) -> str:
    if args.reuse:
        return (
            "a copy of a 1M-record store an earlier `--load direct --keep` run kept (records, "
            "their `record_keys` rows, a `created` activity each, written with Core inserts)"
        )
    if args.load == "direct":
        return (
            "stored records written with Core inserts (`--load direct`: records, their "
            "`record_keys` rows and a `created` activity each, a row kept only when none of "
            "its key values is stored yet, as intake's skip decides; not through intake), "
            "then one `ANALYZE` on PostgreSQL"
        )
    return (
        "stored records loaded through `intake.submit_many` (source import, mode skip) in "
        f"batches of {LOAD_BATCH:,} rows, one `session_scope` per batch"
    )


def section(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    now = datetime.now(UTC)
    comp = results[0]["import_composition"]
    return f"""
## Intake (issue 4)

- date: {now:%Y-%m-%d %H:%M} UTC
- machine: {_machine()}
- python {platform.python_version()}; dupeguard at {_commit()}; databases: \
{", ".join(_DB_NAMES[r["db"]] for r in results)}
- command: `{command}`
- entity `{ENTITY}`, match keys {KEYS} set before loading; {_load_text(args)}; synthetic \
contacts (`dupeguard.synthetic`, seed {args.seed}+)
- API: `intake.submit` in-process, each call in a fresh `session_scope` (commit included), \
{args.calls:,} calls per round after {args.warmup} warm-up calls, {args.rounds} rounds, \
percentiles = median over rounds; mix ⅓ new (created), ⅓ stored re-sent (mode skip), \
⅓ stored with a changed city (mode update)
- CSV import: `services.imports` upload → set_mapping → preview ×{args.previews} (median) → \
start + run (chunks of {imports.CHUNK_ROWS:,} rows); action `{args.import_mode}`; rows: \
{comp["matching"]:,} matching stored records by e-mail (⅕ upper-cased, ½ with a changed \
company), {comp["repeats"]:,} in-file repeats, {comp["empty_email"]:,} new with an empty \
e-mail, {comp["new"]:,} new
- peak RSS = `ru_maxrss` of the bench process (holds the generated rows and samples too)

{table(results)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--import-rows", type=int, default=2_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--calls", type=int, default=2_000, help="timed API calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--previews", type=int, default=3)
    parser.add_argument("--import-mode", choices=intake.MODES, default="update")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--load",
        choices=["intake", "direct"],
        default="intake",
        help="how the stored records are written: through intake, or with Core inserts",
    )
    parser.add_argument(
        "--keep", type=Path, help="SQLite: keep a copy of the loaded store at this path"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="SQLite: skip the load and work on a copy of a store kept with --keep",
    )
    parser.add_argument(
        "--commit-checkpoints",
        action="store_true",
        help="SQLite's default checkpoints (in the commit that fills the log) instead of the "
        "server's background thread",
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = "bench/intake_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)

    if args.db == "both":
        results = []
        for kind in ("sqlite", "postgresql"):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
                path = Path(out.name)
            child = [
                *("--stored", str(args.stored), "--import-rows", str(args.import_rows)),
                *("--db", kind, "--calls", str(args.calls), "--rounds", str(args.rounds)),
                *("--warmup", str(args.warmup), "--previews", str(args.previews)),
                *("--import-mode", args.import_mode, "--seed", str(args.seed)),
                *("--load", args.load),
            ]
            subprocess.run(
                [sys.executable, __file__, *child, "--no-write", "--json", str(path)], check=True
            )
            results.append(json.loads(path.read_text()))
            path.unlink()
    else:
        results = [bench(args, args.db)]
    if args.json:
        args.json.write_text(json.dumps(results[0]))
    text_out = section(results, args, command)
    print(text_out)
    if not args.no_write:
        with args.results.open("a") as fh:
            fh.write(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
