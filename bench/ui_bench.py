"""UI page speed at 1M records: GET each page of the web UI from the real app and time it.

A SQLite store with ``--records`` contacts is needed; the fast way to make one is the intake
bench's direct load, kept for reuse::

    python bench/intake_bench.py --stored 1000000 --load direct --keep /tmp/ui1m.db \\
        --calls 10 --rounds 1 --warmup 10 --previews 1 --import-rows 1000 --no-write
    python bench/ui_bench.py --store /tmp/ui1m.db

This script works on a copy of the store (``--in-place`` skips the copy), adds a UI user,
``--audit`` audit entries and ``--sets`` open duplicate record sets, starts ``dupeguard serve``
(uvicorn) on a loopback port against it, signs in through the form and times ``--requests``
GETs of each page after ``--warmup`` (client-side wall time, keep-alive connection). A page
that answers 404 (not built yet on this branch) is listed as skipped. A section is appended to
bench/RESULTS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from dupeguard.services.users import create_user
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for
from dupeguard.store.tables import (
    AuditEntry,
    DuplicateRecordSet,
    DuplicateSetMember,
    Entity,
    Record,
    Workspace,
    new_id,
)

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 200.0
PASSWORD = "ui bench password"


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def prepare(url: str, audit_rows: int, sets: int) -> dict[str, Any]:
    """A UI user in the store's (largest) workspace, audit entries and duplicate sets."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = sessionmaker_for(engine)
    with session_scope(sessions) as session:
        workspace_id = session.scalar(
            select(Record.workspace_id)
            .group_by(Record.workspace_id)
            .order_by(func.count().desc())
            .limit(1)
        ) or session.scalar(select(Workspace.id).limit(1))
        assert workspace_id, "the store has no workspace"
        email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
        create_user(
            session=session, workspace_id=workspace_id, email=email, password=PASSWORD, role="admin"
        )
        entity_id = session.scalar(
            select(Entity.id).where(Entity.workspace_id == workspace_id, Entity.name == "contact")
        )
        newest = list(
            session.execute(
                select(Record.id, Record.data)
                .where(Record.workspace_id == workspace_id, Record.entity_id == entity_id)
                .order_by(Record.created_at.desc(), Record.id.desc())
                .limit(max(2 * sets, 2))
            )
        )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rows = []
        for i in range(audit_rows):
            record_id, _ = newest[i % len(newest)]
            matched, _ = newest[(i + 1) % len(newest)]
            rows.append(
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "kind": ("duplicate_alert", "duplicate_blocked", "merge")[i % 3],
                    "entity": "contact",
                    "source": ("api", "import", "form")[i % 3],
                    "record_id": record_id,
                    "matched_ids": [matched],
                    "action": "allow",
                    "actor": None,
                    "override": False,
                    "details": {"similarity": 0.95},
                    "created_at": now - timedelta(seconds=audit_rows - i),
                }
            )
            if len(rows) == 5_000:
                conn.execute(insert(AuditEntry), rows)
                rows = []
        if rows:
            conn.execute(insert(AuditEntry), rows)
        for i in range(sets):
            set_id = new_id()
            conn.execute(
                insert(DuplicateRecordSet),
                [
                    {
                        "id": set_id,
                        "workspace_id": workspace_id,
                        "entity_id": entity_id,
                        "source": "job",
                        "status": "open",
                        "size": 2,
                        "max_similarity": 0.9 + (i % 10) / 100,
                        "created_at": now,
                    }
                ],
            )
            conn.execute(
                insert(DuplicateSetMember),
                [
                    {"set_id": set_id, "record_id": newest[2 * i][0], "score": 1.0},
                    {"set_id": set_id, "record_id": newest[2 * i + 1][0], "score": 0.95},
                ],
            )
    engine.dispose()
    record_id, data = newest[len(newest) // 2]
    return {
        "workspace_id": workspace_id,
        "email": email,
        "record_id": record_id,
        "record_email": data.get("email") or "",
    }


def start_server(url: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "DUPEGUARD_DATABASE_URL": url, "DUPEGUARD_LOGIN_RATE_LIMIT": "1000/minute"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dupeguard")),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"dupeguard serve exited with {proc.returncode}")
        found = re.search(r"serving (http://\S+)", line)
        if found:  # printed before the socket listens: wait until the app answers
            while time.monotonic() < deadline:
                try:
                    if httpx.get(found.group(1) + "/health", timeout=5).status_code == 200:
                        return proc, found.group(1)
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
    proc.terminate()
    raise SystemExit("dupeguard serve did not start in 300 s")


def sign_in(client: httpx.Client, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token, "no sign-in form"
    answer = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, f"sign-in failed: {answer.status_code}"


def pages(client: httpx.Client, prepared: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, path) of every page timed; the later records page follows three Next links."""
    later = "/records?entity=contact"
    for _ in range(3):
        found = re.search(r'href="([^"]+)" rel="next"', client.get(later).text)
        if not found:
            break
        later = found.group(1).replace("&amp;", "&")
    return [
        ("dashboard", "/"),
        ("records, first page", "/records?entity=contact"),
        ("records, 4th page", later),
        ("record detail", f"/records/contact/{prepared['record_id']}"),
        ("search by e-mail", f"/records?entity=contact&q={prepared['record_email']}"),
        ("text search", "/records?entity=contact&q=smith"),
        ("entities", "/entities"),
        ("imports", "/imports"),
        ("forms", "/forms"),
        ("duplicates", "/duplicates"),
        ("rules", "/rules?entity=contact"),
        ("audit log", "/audit"),
        ("audit log, filtered", "/audit?kind=duplicate_blocked&source=import"),
    ]


def time_page(client: httpx.Client, path: str, n: int, warmup: int) -> dict[str, Any]:
    first = client.get(path)
    if first.status_code == 404:
        return {"status": 404}
    if first.status_code != 200:
        raise SystemExit(f"GET {path}: {first.status_code}")
    for _ in range(warmup):
        client.get(path)
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code}"
    took.sort()
    return {
        "status": 200,
        "p50": statistics.median(took),
        "p99": took[min(len(took) - 1, round(0.99 * (len(took) - 1)))],
        "max": took[-1],
        "bytes": len(first.content),
    }


def section(results: list[tuple[str, str, dict[str, Any]]], args: argparse.Namespace) -> str:
    lines = [
        f"\n## UI pages at {args.records_label} records (bench/ui_bench.py), "
        f"{datetime.now(UTC):%Y-%m-%d}\n",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite; a shared, noisy 2-core machine (other sessions "
        "were running benchmarks and test suites at the same time)",
        f"- store: a copy of an intake-bench `--load direct --keep` store ({args.records_label} "
        f"contacts), plus {args.audit:,} audit entries and {args.sets:,} open duplicate sets",
        f"- `dupeguard serve` (uvicorn, one process) on 127.0.0.1; an httpx client signed in "
        f"through the form; per page {args.warmup} warm-up GETs then {args.requests} timed GETs "
        "(client wall time, keep-alive)",
        f"- target: p99 ≤ {TARGET_MS:.0f} ms",
        f"- command: `python bench/ui_bench.py {' '.join(sys.argv[1:])}`\n",
        "| page | path | p50 ms | p99 ms | max ms | HTML KiB | ≤ target |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, path, r in results:
        shown = path if len(path) <= 60 else path[:57] + "…"
        if r["status"] == 404:
            lines.append(f"| {label} | `{shown}` | – | – | – | – | not built on this branch |")
            continue
        ok = "yes" if r["p99"] <= TARGET_MS else "**no**"
        lines.append(
            f"| {label} | `{shown}` | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} "
            f"| {r['bytes'] / 1024:.1f} | {ok} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a kept SQLite store")
    parser.add_argument("--in-place", action="store_true", help="use the store, not a copy")
    parser.add_argument("--requests", type=int, default=50, help="timed GETs per page")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--audit", type=int, default=20_000, help="audit entries to add")
    parser.add_argument("--sets", type=int, default=200, help="open duplicate sets to add")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not args.store.exists():
        raise SystemExit(f"no store at {args.store}: make one with bench/intake_bench.py --keep")
    path = args.store
    if not args.in_place:
        path = Path(tempfile.gettempdir()) / f"dg-ui-{uuid.uuid4().hex[:8]}.db"
        _log(f"copying {args.store} to {path}")
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{args.store}{suffix}").exists():
                shutil.copy(f"{args.store}{suffix}", f"{path}{suffix}")
    url = f"sqlite:///{path}"
    proc = None
    try:
        _log("adding a user, audit entries and duplicate sets")
        prepared = prepare(url, args.audit, args.sets)
        engine = make_engine(url)
        with engine.connect() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(Record)
                .where(Record.workspace_id == prepared["workspace_id"])
            ).scalar_one()
        engine.dispose()
        args.records_label = f"{count:,}"
        proc, base = start_server(url)
        _log(f"serving {base}; {count:,} records")
        results = []
        with httpx.Client(base_url=base, timeout=60) as client:
            sign_in(client, prepared["email"])
            for label, page in pages(client, prepared):
                r = time_page(client, page, args.requests, args.warmup)
                results.append((label, page, r))
                if r["status"] == 404:
                    _log(f"{label}: {page} not built (404), skipped")
                else:
                    _log(f"{label}: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms")
        text = section(results, args)
        print(text)
        if not args.no_write:
            with args.results.open("a") as out:
                out.write(text)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if not args.in_place:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
