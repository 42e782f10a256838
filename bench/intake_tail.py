"""Where a single API intake's time goes, at 1M stored records (issue 4's p99 target).

Runs the intake benchmark's API calls (created / skipped / updated in equal shares, the
standard duplicate rules on) against a copy of a SQLite store kept with
``intake_bench.py --keep``, and splits each call into its deciding part (``intake.submit``),
its commit and the garbage collection that ran during it, with CPU time per decision. Arms
undo one server measure each, so their effect is measured in the same run::

    --commit-checkpoints   SQLite's default: the commit that fills the log checkpoints it
    --no-freeze            no gc.freeze() of the process's heap before the calls

    .venv/bin/python bench/intake_tail.py --reuse /tmp/intake1m.db [--calls 2000] [arms]

Prints a summary; nothing is written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake_bench as ib
from dupeguard.services import intake
from dupeguard.store.tables import Workspace

DECISIONS = ("created", "skipped", "updated")


class GcClock:
    """Milliseconds spent in garbage collection, and full collections, so far."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.full = 0
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._started) * 1000
            self.full += info["generation"] == 2


def timed_calls(db: ib.Database, workspace_id: str, tasks: list, clock: GcClock) -> np.ndarray:
    """Per call: total, submit, commit, GC ms, full collections, CPU ms, decision index."""
    out = []
    for expected, mode, data in tasks:
        gc_ms, full = clock.ms, clock.full
        cpu0, t0 = time.thread_time(), time.perf_counter()
        session = db.sessions()
        try:
            intake.submit(
                session=session,
                workspace_id=workspace_id,
                entity=ib.ENTITY,
                inbound=intake.Inbound(data=data),
                source="api",
                mode=mode,
            )
            t1 = time.perf_counter()
            session.commit()
        finally:
            session.close()
        t2 = time.perf_counter()
        out.append(
            (
                (t2 - t0) * 1000,
                (t1 - t0) * 1000,
                (t2 - t1) * 1000,
                clock.ms - gc_ms,
                clock.full - full,
                (time.thread_time() - cpu0) * 1000,
                DECISIONS.index(expected),
            )
        )
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", type=Path, required=True, help="a store kept with --keep")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commit-checkpoints", action="store_true")
    parser.add_argument("--no-freeze", action="store_true")
    args = parser.parse_args(argv)
    if not args.reuse.exists():
        print(f"intake_tail: no store at {args.reuse} (make one with intake_bench.py --keep)")
        return 2

    db = ib.Database("sqlite", args.reuse, background_checkpoints=not args.commit_checkpoints)
    try:
        with ib.session_scope(db.sessions) as session:
            workspace_id = session.scalars(select(Workspace.id)).one()
        rows = ib._rows(args.seed + 1000, ib.GEN_CHUNK)
        n_new = args.calls // 3
        fresh = ib.new_rows(db, workspace_id, rows, n_new + 100)
        stored = ib.stored_sample(db, workspace_id, args.calls, args.seed)
        del rows
        clock = GcClock()
        if not args.no_freeze:
            gc.collect()
            gc.freeze()
        rng = random.Random(args.seed)
        timed_calls(db, workspace_id, ib._api_tasks(fresh[:100], stored[:200], "w", rng), clock)
        tasks = ib._api_tasks(fresh[100 : 100 + n_new], stored[: args.calls - n_new], "r", rng)
        res = timed_calls(db, workspace_id, tasks, clock)
    finally:
        db.close()

    def pct(values: np.ndarray) -> str:
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return f"p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}  max {values.max():.2f} ms"

    arms = [a for a in ("commit_checkpoints", "no_freeze") if getattr(args, a)]
    print(f"intake_tail: {len(res)} calls against {args.reuse}; arms: {arms or 'none'}")
    print(f"  wall     {pct(res[:, 0])}")
    print(f"  submit   {pct(res[:, 1])}")
    print(f"  commit   {pct(res[:, 2])}")
    print(f"  CPU      {pct(res[:, 5])}")
    print(f"  GC       {res[:, 3].sum():.0f} ms in all; {res[:, 4].sum():.0f} full collections")
    for k, name in enumerate(DECISIONS):
        print(f"  CPU {name:8s} {pct(res[res[:, 6] == k][:, 5])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
