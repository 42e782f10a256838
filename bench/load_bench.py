"""Load benchmark: many concurrent clients against several server processes, then exact checks.

For each database (a fresh SQLite file; a fresh PostgreSQL database) it starts ``--workers``
server processes (``uvicorn --factory dupeguard.api.app:create_app``, each on its own loopback
port, all on the same database and the same Redis for rate limits) and lets ``--clients``
asyncio clients (httpx) send, round-robin over the processes, for ``--seconds``:

* single intake — ``POST /v1/entities/contact/records``, e-mail a match key, mode ``skip``;
  one call in five repeats an e-mail sent before (the rules say: ``skipped``, no new record);
* bulk intake — ``POST …/records/bulk`` with 20 rows, a quarter of them repeats;
* detect-duplicates — ``POST /v1/ai/detect-duplicates`` with an ``Idempotency-Key``; one call
  in three replays an earlier call's key and body (must be answered from the store, free);
* reads — every path of ``--get`` (UI pages can be added with one more ``--get``).

Then it verifies, exactly:

1. records: every e-mail sent has exactly one record if any call carrying it succeeded,
   at most one otherwise (a call cut off by a timeout may or may not have committed);
   nothing lost, nothing duplicated;
2. credits: the ledger holds exactly one charge per successful, non-replayed detect call
   (matched by the ``X-Request-ID`` the client sent), of the right cost, and none for
   replays or failures; the balance equals the opening balance minus the charges;
3. idempotent replays: answered with ``Idempotent-Replayed: true`` and the first answer's
   body;
4. rate limits across processes: the servers are restarted with ``--limit`` (default
   ``60/minute``) and one fresh key sends ``--limit-requests`` calls spread over all
   processes; exactly the limit gets 200, the rest 429.

Loopback only; bounded by ``--seconds`` per database and by a request timeout. Results go to
stdout (a Markdown table for bench/RESULTS.md) and, with ``--json``, to a file.

Usage::

    python bench/load_bench.py [--databases sqlite postgresql] [--workers 2] [--clients 16]
                               [--seconds 30] [--get /v1/workspace --get /health ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text

from dupeguard.services import entities
from dupeguard.services.credits import scan_cost
from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for
from dupeguard.store.tables import CreditEntry, Record, Workspace

POSTGRES_ADMIN = os.environ.get("DUPEGUARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DUPEGUARD_BENCH_REDIS", "redis://127.0.0.1:6379/0")
DEFAULT_GETS = (
    "/v1/workspace",
    "/v1/entities/contact/records?limit=20",
    "/v1/duplicate-record-sets?limit=20",
    "/v1/audit-log?limit=20",
    "/health",
)
OPENING_CREDITS = 1_000_000


# --- servers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def servers(database_url: str, workers: int, env: dict[str, str], log: Path) -> Iterator[list[str]]:
    """``workers`` server processes on one database; yields their base URLs."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DUPEGUARD_")}
    environment |= {"DUPEGUARD_DATABASE_URL": database_url, **env}
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    with log.open("ab") as out:
        try:
            for _ in range(workers):
                port = _free_port()
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "uvicorn",
                            "--factory",
                            "dupeguard.api.app:create_app",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--log-level",
                            "warning",
                            "--no-access-log",
                        ],
                        env=environment,
                        stdout=out,
                        stderr=out,
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
                _wait(urls[-1], procs[-1], log)  # one at a time: each migrates on start
            yield urls
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited on start; see {log}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"a server did not answer within 90 s; see {log}")


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'load-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"dg_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        f"{POSTGRES_ADMIN}/postgres".replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{POSTGRES_ADMIN}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@dataclass
class Tenant:
    workspace_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def prepare(database_url: str) -> Tenant:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = sessionmaker_for(engine)
    with session_scope(sessions) as session:
        ws = create_workspace(session=session, name="Load", credits=OPENING_CREDITS).id
        _, plaintext = create_key(session=session, workspace_id=ws, scopes=("admin",))
    with session_scope(sessions) as session:
        entities.set_match_keys(
            session=session, workspace_id=ws, entity="contact", fields=["email"]
        )
    engine.dispose()
    return Tenant(ws, plaintext)


def new_key(database_url: str, workspace_id: str) -> Tenant:
    engine = make_engine(database_url)
    with session_scope(sessionmaker_for(engine)) as session:
        _, plaintext = create_key(session=session, workspace_id=workspace_id, scopes=("read",))
    engine.dispose()
    return Tenant(workspace_id, plaintext)


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # e-mail -> True once a call carrying it succeeded (False: only failed/cut-off calls)
    emails: dict[str, bool] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)  # request id -> expected cost
    uncharged: set[str] = field(default_factory=set)  # replays and failures
    replays_ok: int = 0
    replays_bad: int = 0
    detect_keys: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def note(self, op: str, started: float, status: str) -> None:
        self.latencies[op].append(time.perf_counter() - started)
        self.statuses[op][status] += 1


class Load:
    def __init__(self, urls: list[str], tenant: Tenant, gets: list[str], seed: int) -> None:
        self.urls = urls
        self.tenant = tenant
        self.gets = gets
        self.random = random.Random(seed)
        self.tally = Tally()
        self.sent: list[str] = []
        self.counter = 0
        self.records_hint = 0

    def _email(self) -> str:
        if self.sent and self.random.random() < 0.2:
            return self.random.choice(self.sent)  # a repeat: the match key says skip
        self.counter += 1
        email = f"load{self.counter}@example.com"
        self.sent.append(email)
        return email

    def _person(self) -> dict[str, Any]:
        n = self.random.randrange(10_000)
        return {
            "email": self._email(),
            "first_name": f"First{n % 700}",
            "last_name": f"Last{n % 900}",
            "phone": f"+1415{n:07d}",
        }

    async def client(self, index: int, deadline: float) -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            turn = index
            while time.monotonic() < deadline:
                turn += 1
                base = self.urls[turn % len(self.urls)]
                roll = self.random.random()
                if roll < 0.40:
                    await self.single(http, base)
                elif roll < 0.55:
                    await self.bulk(http, base)
                elif roll < 0.62:
                    await self.detect(http, base)
                else:
                    await self.read(http, base)

    async def _post(
        self, http: httpx.AsyncClient, op: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await http.post(url, **kw)
        except httpx.HTTPError as exc:
            self.tally.note(op, started, type(exc).__name__)
            return None
        self.tally.note(op, started, str(response.status_code))
        return response

    async def single(self, http: httpx.AsyncClient, base: str) -> None:
        person = self._person()
        self.tally.emails.setdefault(person["email"], False)
        response = await self._post(
            http,
            "single intake",
            f"{base}/v1/entities/contact/records",
            headers=self.tenant.headers,
            json={"data": person, "dedup_mode": "skip"},
        )
        if response is not None and response.status_code in (200, 201):
            self.tally.emails[person["email"]] = True

    async def bulk(self, http: httpx.AsyncClient, base: str) -> None:
        rows = [self._person() for _ in range(20)]
        for row in rows:
            self.tally.emails.setdefault(row["email"], False)
        response = await self._post(
            http,
            "bulk intake (20 rows)",
            f"{base}/v1/entities/contact/records/bulk",
            headers=self.tenant.headers,
            json={"records": [{"data": r} for r in rows], "dedup_mode": "skip"},
        )
        if response is not None and response.status_code == 200:
            for row, result in zip(rows, response.json()["results"], strict=True):
                if result["status"] != "error":
                    self.tally.emails[row["email"]] = True

    async def detect(self, http: httpx.AsyncClient, base: str) -> None:
        replay = bool(self.tally.detect_keys) and self.random.random() < 1 / 3
        if replay:
            key, body, first = self.random.choice(self.tally.detect_keys)
        else:
            key, body, first = str(uuid.uuid4()), {"entity_type": "contact", "limit": 20}, {}
        request_id = uuid.uuid4().hex
        headers = {**self.tenant.headers, "Idempotency-Key": key, "X-Request-ID": request_id}
        op = "detect-duplicates (replay)" if replay else "detect-duplicates"
        # the records counted when the call starts bound its cost; read it from the answer
        response = await self._post(
            http, op, f"{base}/v1/ai/detect-duplicates", headers=headers, json=body
        )
        if response is None or response.status_code != 200:
            self.tally.uncharged.add(request_id)
            return
        answer = response.json()
        if replay:
            self.tally.uncharged.add(request_id)
            same = answer == first and response.headers.get("idempotent-replayed") == "true"
            self.tally.replays_ok += same
            self.tally.replays_bad += not same
        else:
            self.tally.charged[request_id] = -1  # cost checked against the ledger's tier
            self.tally.detect_keys.append((key, body, answer))

    async def read(self, http: httpx.AsyncClient, base: str) -> None:
        path = self.random.choice(self.gets)
        started = time.perf_counter()
        try:
            response = await http.get(f"{base}{path}", headers=self.tenant.headers)
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        self.tally.note(f"GET {path.split('?')[0]}", started, status)


async def drive(load: Load, clients: int, seconds: float) -> float:
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(load.client(i, deadline) for i in range(clients)))
    return time.monotonic() - started


async def burst(urls: list[str], tenant: Tenant, count: int) -> Counter[int]:
    """``count`` calls with one key, spread round-robin over every server process."""
    statuses: Counter[int] = Counter()
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    try:

        async def one(i: int) -> None:
            response = await clients[i % len(clients)].get("/v1/workspace", headers=tenant.headers)
            statuses[response.status_code] += 1

        for start in range(0, count, 20):
            await asyncio.gather(*(one(i) for i in range(start, min(count, start + 20))))
    finally:
        for c in clients:
            await c.aclose()
    return statuses


# --- checks ------------------------------------------------------------------------------------


def verify(database_url: str, tenant: Tenant, tally: Tally) -> dict[str, Any]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = Counter(
            conn.scalars(
                select(Record.data["email"].as_string()).where(
                    Record.workspace_id == tenant.workspace_id, Record.deleted_at.is_(None)
                )
            )
        )
        ledger = conn.execute(
            select(CreditEntry.request_id, CreditEntry.delta).where(
                CreditEntry.workspace_id == tenant.workspace_id, CreditEntry.delta < 0
            )
        ).all()
        balance = conn.scalar(select(Workspace.credits).where(Workspace.id == tenant.workspace_id))
        records = sum(stored.values())
    engine.dispose()
    lost = [e for e, ok in tally.emails.items() if ok and stored.get(e, 0) == 0]
    duplicated = [e for e, n in stored.items() if n > 1]
    unknown = [e for e in stored if e not in tally.emails]
    charges = Counter(r for r, _ in ledger)
    charged_ids = set(tally.charged)
    max_cost = scan_cost(records)
    return {
        "emails sent": len(tally.emails),
        "records stored": records,
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unexpected": len(unknown),
        "successful scans": len(charged_ids),
        "ledger charges": len(ledger),
        "charged twice": sum(1 for n in charges.values() if n > 1),
        "scans not charged": len(charged_ids - set(charges)),
        "charges without a scan": len(set(charges) - charged_ids),
        "replays or failures charged": len(set(charges) & tally.uncharged),
        "costs outside the tier": sum(1 for _, d in ledger if not 0 < -d <= max_cost),
        "balance matches ledger": balance == OPENING_CREDITS + sum(d for _, d in ledger),
        "replays identical": tally.replays_ok,
        "replays wrong": tally.replays_bad,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(tally: Tally, elapsed: float) -> list[dict[str, Any]]:
    rows = []
    for op in sorted(tally.latencies):
        lat = tally.latencies[op]
        ok = sum(n for s, n in tally.statuses[op].items() if s.startswith("2"))
        errors = {s: n for s, n in tally.statuses[op].items() if not s.startswith("2")}
        rows.append(
            {
                "operation": op,
                "requests": len(lat),
                "per_s": len(lat) / elapsed,
                "p50_ms": percentile(lat, 0.5) * 1000,
                "p99_ms": percentile(lat, 0.99) * 1000,
                "mean_ms": statistics.fmean(lat) * 1000,
                "ok": ok,
                "errors": errors,
            }
        )
    return rows


def run_one(
    kind: str, args: argparse.Namespace, workdir: Path, redis: str | None
) -> dict[str, Any]:
    log = workdir / f"servers-{kind}.log"
    env = {"DUPEGUARD_RATE_LIMIT": "1000000/minute", "DUPEGUARD_WEBHOOK_WORKER": "false"}
    if redis:
        env["DUPEGUARD_REDIS_URL"] = redis
    with database(kind, workdir) as url:
        tenant = prepare(url)
        load = Load([], tenant, args.get or list(DEFAULT_GETS), seed=args.seed)
        with servers(url, args.workers, env, log) as urls:
            load.urls = urls
            print(
                f"[{kind}] {args.workers} processes, {args.clients} clients, {args.seconds} s",
                file=sys.stderr,
            )
            elapsed = asyncio.run(drive(load, args.clients, args.seconds))
        checks = verify(url, tenant, load.tally)
        limited: dict[str, Any] = {"checked": False, "why": "no Redis: limits are per process"}
        if redis:
            env["DUPEGUARD_RATE_LIMIT"] = args.limit
            with servers(url, args.workers, env, log) as urls:
                statuses = asyncio.run(
                    burst(urls, new_key(url, tenant.workspace_id), args.limit_requests)
                )
            allowed = int(args.limit.split("/")[0])
            limited = {
                "checked": True,
                "limit": args.limit,
                "sent": args.limit_requests,
                "200": statuses.get(200, 0),
                "429": statuses.get(429, 0),
                "other": {k: v for k, v in statuses.items() if k not in (200, 429)},
                "held": statuses.get(200, 0) == allowed,
            }
    total = sum(len(v) for v in load.tally.latencies.values())
    return {
        "database": kind,
        "elapsed_s": elapsed,
        "requests": total,
        "throughput_per_s": total / elapsed,
        "operations": summarise(load.tally, elapsed),
        "checks": checks,
        "rate_limit": limited,
    }


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = []
    for r in results:
        lines += [
            f"**{r['database']}**: {r['requests']:,} requests in {r['elapsed_s']:.1f} s "
            f"= {r['throughput_per_s']:.0f}/s ({args.workers} server processes, "
            f"{args.clients} clients)",
            "",
            "| operation | requests | per s | p50 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for op in r["operations"]:
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(op["errors"].items())) or "0"
            lines.append(
                f"| {op['operation']} | {op['requests']:,} | {op['per_s']:.1f} | "
                f"{op['p50_ms']:.0f} | {op['p99_ms']:.0f} | {errors} |"
            )
        c = r["checks"]
        lines += ["", "Checks: " + "; ".join(f"{k} {v}" for k, v in c.items())]
        rl = r["rate_limit"]
        if rl["checked"]:
            lines.append(
                f"Rate limit {rl['limit']} over {args.workers} processes (Redis): "
                f"{rl['sent']} calls → {rl['200']} × 200, {rl['429']} × 429"
                f"{', other ' + str(rl['other']) if rl['other'] else ''} — "
                f"{'held' if rl['held'] else 'NOT held'}"
            )
        else:
            lines.append(f"Rate limit not checked: {rl['why']}")
        lines.append("")
    return "\n".join(lines)


def failures(results: list[dict[str, Any]]) -> list[str]:
    bad = []
    for r in results:
        c = r["checks"]
        for name in (
            "lost",
            "duplicated",
            "unexpected",
            "charged twice",
            "scans not charged",
            "charges without a scan",
            "replays or failures charged",
            "costs outside the tier",
            "replays wrong",
        ):
            if c[name]:
                bad.append(f"{r['database']}: {name} = {c[name]}")
        if not c["balance matches ledger"]:
            bad.append(f"{r['database']}: the balance does not match the ledger")
        if r["rate_limit"]["checked"] and not r["rate_limit"]["held"]:
            bad.append(f"{r['database']}: rate limit not held: {r['rate_limit']}")
    return bad


def _redis() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return REDIS_URL
    except Exception as exc:  # no Redis: say so, run the rest
        print(
            f"Redis not reachable at {REDIS_URL} ({exc}); rate limits not checked", file=sys.stderr
        )
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=30, help="load per database (max 300)")
    parser.add_argument("--get", action="append", help="a GET path to read (repeatable)")
    parser.add_argument("--limit", default="60/minute", help="rate limit for the limit check")
    parser.add_argument("--limit-requests", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 300 or not 1 <= args.clients <= 256 or not 1 <= args.workers <= 16:
        parser.error("bounded: --seconds 1..300, --clients 1..256, --workers 1..16")
    redis = _redis()
    results = []
    with tempfile.TemporaryDirectory(prefix="dg-load-") as tmp:
        for kind in args.databases:
            results.append(run_one(kind, args, Path(tmp), redis))
            print(markdown(results[-1:], args), file=sys.stderr)  # kept if a later one fails
    header = (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    )
    print(header)
    print(markdown(results, args))
    if args.json:
        args.json.write_text(json.dumps({"when": header, "results": results}, indent=2))
    bad = failures(results)
    for line in bad:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
