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
* reads — every path of ``--get``;
* the web UI — ``--ui-clients`` of the clients are signed-in browser users instead: each has
  its own user (``create_user``, as ``dupeguard user create``), half in the load's workspace
  (admins), half in a second workspace (members) that gets no API traffic. A client signs in
  through the real form (``GET /login`` for the CSRF token and cookie, ``POST /login``), keeps
  the session cookie and browses, round-robin over the processes: dashboard, records list, a
  records text search, a record detail page (a record linked from its last list), the
  duplicates queue, a duplicate-set review page (a set linked from its last queue), the
  duplicate job page, rules, audit log and imports; now and then it asks for the other
  workspace's record or set (must be 404), or signs out (``POST /logout`` with the token),
  checks that the old cookie now leads to ``/login`` and signs in again. Both workspaces are
  seeded before the servers start with synthetic contacts (``dupeguard.synthetic``), one
  finished duplicate job (so there are sets to review) and one uploaded import.

Then it verifies, exactly:

1. records: every e-mail sent has exactly one record if any call carrying it succeeded,
   at most one otherwise (a call cut off by a timeout may or may not have committed);
   nothing lost, nothing duplicated;
2. credits: the ledger holds exactly one charge per successful, non-replayed detect call
   (matched by the ``X-Request-ID`` the client sent), of the right cost, and none for
   replays or failures; the balance equals the opening balance minus the charges;
3. idempotent replays: answered with ``Idempotent-Replayed: true`` and the first answer's
   body;
4. UI pages: every page answered with its expected status (200; 303 after sign-in/out; 404
   for the other workspace's items): any 5xx or other status fails the run; and no session
   was mixed up: every page shows the client's own user and role in its header and its own
   session's CSRF token in every form, holds none of the other workspace's markers (its
   records' e-mail domain and surname prefix, its import's file name) nor another client's
   e-mail, and its list/detail pages show their own workspace's marker; in the database,
   every sign-in opened exactly one session of that client's user and workspace (matched
   by the token's hash), every sign-out revoked it, and the second workspace's records are
   untouched;
5. server errors: a 5xx answer to any request (API or UI), or a traceback in the servers'
   log during the load, fails the run;
6. rate limits across processes: the servers are restarted with ``--limit`` (default
   ``60/minute``) and one fresh key sends ``--limit-requests`` calls spread over all
   processes; exactly the limit gets 200, the rest 429.

Loopback only; bounded by ``--seconds`` per database and by a request timeout. Results go to
stdout (a Markdown table for bench/RESULTS.md) and, with ``--json``, to a file.

Usage::

    python bench/load_bench.py [--databases sqlite postgresql] [--workers 2] [--clients 16]
                               [--ui-clients 4] [--seconds 30] [--get /v1/workspace ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
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

from dupeguard.services import duplicate_jobs, entities, imports, intake, record_sets
from dupeguard.services.credits import scan_cost
from dupeguard.services.keys import create_key
from dupeguard.services.users import create_user, csrf_token, hash_token
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for
from dupeguard.store.tables import CreditEntry, Record, UiSession, User, Workspace
from dupeguard.synthetic import generate_contacts

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
LOAD_DOMAIN = "a.example.com"  # the e-mail domain of every record of the load's workspace
UI_PASSWORD = "load bench password"
UI_COOKIE = "dupeguard_session"  # plain HTTP on loopback: not the __Host- name
SEED_CONTACTS = 300  # synthetic contacts per workspace (about 230 stored: repeats are skipped)


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
class Space:
    """A workspace the UI clients browse, with what only its pages may show."""

    label: str
    workspace_id: str
    domain: str  # every record's e-mail domain
    surname: str  # the prefix of every seeded last name
    import_name: str  # the file name of its one import
    role: str  # of its UI users
    record_ids: list[str] = field(default_factory=list)  # seeded records
    emails: list[str] = field(default_factory=list)  # their e-mails
    set_ids: list[str] = field(default_factory=list)  # open sets of the seeded job
    job_id: str = ""

    @property
    def markers(self) -> tuple[str, ...]:
        return (f"@{self.domain}", self.surname, self.import_name)


@dataclass
class UiUser:
    """One UI client: its user, and every session token it was given (sign-in order)."""

    email: str
    space: Space
    tokens: list[str] = field(default_factory=list)
    signed_out: set[str] = field(default_factory=set)  # tokens of successful sign-outs


@dataclass
class Tenant:
    workspace_id: str
    api_key: str
    spaces: list[Space] = field(default_factory=list)  # [the load's workspace, another]
    users: list[UiUser] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def prepare(database_url: str, ui_clients: int = 0) -> Tenant:
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
    tenant = Tenant(ws, plaintext)
    if ui_clients:
        with session_scope(sessions) as session:
            other = create_workspace(session=session, name="Other").id
        with session_scope(sessions) as session:
            entities.set_match_keys(
                session=session, workspace_id=other, entity="contact", fields=["email"]
            )
        tenant.spaces = [
            Space("load", ws, LOAD_DOMAIN, "Ashford-", "load-a-contacts.csv", "admin"),
            Space("other", other, "b.example.org", "Brookvale-", "other-b-contacts.csv", "member"),
        ]
        for seed, space in enumerate(tenant.spaces, start=1):
            _seed(sessions, space, seed)
        with session_scope(sessions) as session:
            for i in range(ui_clients):
                space = tenant.spaces[i % 2]
                email = f"ui{i + 1}-{space.label}@users.example.net"
                create_user(
                    session=session,
                    workspace_id=space.workspace_id,
                    email=email,
                    password=UI_PASSWORD,
                    role=space.role,
                )
                tenant.users.append(UiUser(email, space))
    engine.dispose()
    return tenant


def _seed(sessions: Any, space: Space, seed: int) -> None:
    """Synthetic contacts (e-mail domain and surname marked as the space's), one import and
    one finished duplicate job, so every page has something of this workspace to show."""
    synthetic, _ = generate_contacts(SEED_CONTACTS, seed=seed)
    rows = []
    for r in synthetic.iter_rows(named=True):
        data = {k: v for k, v in r.items() if k not in ("id", "created_at") and v}
        if data.get("email"):  # the integrity check counts records by e-mail
            data["email"] = f"{str(data['email']).split('@')[0]}@{space.domain}"
            data["last_name"] = space.surname + str(data.get("last_name", ""))
            rows.append(intake.Inbound(data))
    with session_scope(sessions) as session:
        intake.submit_many(
            session=session,
            workspace_id=space.workspace_id,
            entity="contact",
            rows=rows,
            source="import",
            mode="skip",
        )
    first = rows[0].data
    csv = "first_name,last_name,email\n" + ",".join(
        str(first.get(k, "")) for k in ("first_name", "last_name", "email")
    )
    with session_scope(sessions) as session:
        imports.upload(
            session=session,
            workspace_id=space.workspace_id,
            entity="contact",
            filename=space.import_name,
            content=csv.encode(),
        )
    with session_scope(sessions) as session:
        space.job_id = duplicate_jobs.create(
            session=session, workspace_id=space.workspace_id, entity="contact", actor="load-bench"
        ).id
    status = duplicate_jobs.run_job(sessions, space.job_id)
    with session_scope(sessions) as session:
        found, _ = record_sets.list_sets(
            session=session, workspace_id=space.workspace_id, limit=100
        )
        stored = session.execute(
            select(Record.id, Record.data["email"].as_string()).where(
                Record.workspace_id == space.workspace_id
            )
        ).all()
    if status != "completed" or not found:
        raise SystemExit(f"seeding {space.label}: the duplicate job {status}, {len(found)} sets")
    space.set_ids = [s.id for s in found]
    space.record_ids = [r for r, _ in stored]
    space.emails = [e for _, e in stored]


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
    expected: dict[str, str] = field(default_factory=dict)  # UI op -> its one right status
    ui_pages: int = 0  # UI answers whose content was checked
    ui_problems: list[str] = field(default_factory=list)  # unexpected statuses, mixed pages

    def note(self, op: str, started: float, status: str) -> None:
        self.latencies[op].append(time.perf_counter() - started)
        self.statuses[op][status] += 1


WHO = re.compile(r'<span class="who">([^<]*) <span class="role">\(([^)]*)\)</span>')
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
RECORD_LINK = re.compile(r'href="/records/contact/([0-9a-f-]{36})"')
SET_LINK = re.compile(r'href="/duplicates/([0-9a-f-]{36})[?"]')

#: what a UI client does each turn, and how often (weights)
UI_MIX = {
    "dashboard": 10,
    "records list": 12,
    "records search": 10,
    "record detail": 12,
    "duplicates queue": 10,
    "duplicate set review": 10,
    "duplicate job": 6,
    "rules": 6,
    "audit log": 8,
    "imports": 6,
    "other workspace": 4,
    "sign out and in": 2,
}


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
        for space in tenant.spaces[:1]:  # the seeded records of the load's workspace
            self.tally.emails.update(dict.fromkeys(space.emails, True))

    def _email(self) -> str:
        if self.sent and self.random.random() < 0.2:
            return self.random.choice(self.sent)  # a repeat: the match key says skip
        self.counter += 1
        email = f"load{self.counter}@{LOAD_DOMAIN}"
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

    # --- the web UI ---------------------------------------------------------------------------

    async def ui_client(self, user: UiUser, index: int, deadline: float) -> None:
        """A browser: signs in through the form, keeps the cookie, browses until ``deadline``."""
        turn = index
        ops, weights = list(UI_MIX), list(UI_MIX.values())
        seen = {"records": list(user.space.record_ids), "sets": list(user.space.set_ids)}
        async with httpx.AsyncClient(timeout=60, headers={"Accept": "text/html"}) as http:
            if not await self.ui_sign_in(http, self.urls[turn % len(self.urls)], user):
                return
            while time.monotonic() < deadline:
                turn += 1
                base = self.urls[turn % len(self.urls)]
                op = self.random.choices(ops, weights)[0]
                if op == "sign out and in":
                    if not await self.ui_sign_out(http, base, user):
                        return
                    if not await self.ui_sign_in(
                        http, self.urls[(turn + 1) % len(self.urls)], user
                    ):
                        return
                    continue
                path, want, expect = self._ui_target(op, user, seen)
                text = await self.ui_get(http, f"UI {op}", base + path, user, want, expect)
                if text is None:
                    continue
                if op == "records list":
                    seen["records"] = RECORD_LINK.findall(text) or seen["records"]
                elif op == "duplicates queue":
                    seen["sets"] = SET_LINK.findall(text) or seen["sets"]

    def _ui_target(
        self, op: str, user: UiUser, seen: dict[str, list[str]]
    ) -> tuple[str, str | None, int]:
        """(path, a text the page must show, the status it must answer) of a page."""
        space = user.space
        own = f"@{space.domain}"
        if op == "dashboard":
            return "/", None, 200
        if op == "records list":
            return "/records?entity=contact", own, 200
        if op == "records search":  # not a match key: the text search
            return f"/records?entity=contact&q={space.surname.rstrip('-')}", space.surname, 200
        if op == "record detail":
            return f"/records/contact/{self.random.choice(seen['records'])}", own, 200
        if op == "duplicates queue":  # its "latest job" link: the seeded job
            return "/duplicates", f"/duplicates/jobs/{space.job_id}", 200
        if op == "duplicate set review":
            return f"/duplicates/{self.random.choice(seen['sets'])}", own, 200
        if op == "duplicate job":
            return f"/duplicates/jobs/{space.job_id}", f"/duplicates/jobs/{space.job_id}/", 200
        if op == "rules":
            return "/rules?entity=contact", None, 200
        if op == "audit log":
            return "/audit", None, 200
        if op == "imports":
            return "/imports", space.import_name, 200
        assert op == "other workspace", op
        other = next(s for s in self.tenant.spaces if s is not space)
        if self.random.random() < 0.5:
            return f"/records/contact/{self.random.choice(other.record_ids)}", None, 404
        return f"/duplicates/{self.random.choice(other.set_ids)}", None, 404

    async def _ui_send(
        self, http: httpx.AsyncClient, op: str, method: str, url: str, expect: int, **kw: Any
    ) -> tuple[httpx.Response | None, float]:
        self.tally.expected[op] = str(expect)
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.tally.note(op, started, type(exc).__name__)
            self.tally.ui_problems.append(f"{op} {url}: {type(exc).__name__}")
            return None, started
        if response.status_code != expect:
            self.tally.note(op, started, str(response.status_code))
            self.tally.ui_problems.append(f"{op} {url}: {response.status_code}, not {expect}")
            return None, started
        return response, started

    async def ui_get(
        self,
        http: httpx.AsyncClient,
        op: str,
        url: str,
        user: UiUser,
        want: str | None,
        expect: int,
    ) -> str | None:
        """GET a page; its status and content checked (see :meth:`mixed`)."""
        response, started = await self._ui_send(http, op, "GET", url, expect)
        if response is None:
            return None
        problems = self.mixed(user, response.text, want)
        self.tally.ui_pages += 1
        if problems:
            self.tally.note(op, started, "mixed")
            self.tally.ui_problems.append(f"{op} {url} for {user.email}: {'; '.join(problems)}")
            return None
        self.tally.note(op, started, str(expect))
        return response.text

    def mixed(self, user: UiUser, html: str, want: str | None) -> list[str]:
        """What shows that this page was not rendered for ``user``'s session and workspace."""
        problems = []
        who = WHO.search(html)
        if who is None or (who.group(1), who.group(2)) != (user.email, user.space.role):
            problems.append(f"header shows {who.groups() if who else 'no user'}")
        tokens = set(CSRF.findall(html))
        if tokens != {csrf_token(user.tokens[-1])}:
            problems.append(f"{len(tokens)} CSRF token(s), not this session's")
        for other in self.tenant.spaces:
            if other is not user.space:
                problems += [f"shows {m!r}" for m in other.markers if m in html]
        problems += [
            f"shows {u.email}" for u in self.tenant.users if u is not user and u.email in html
        ]
        if want is not None and want not in html:
            problems.append(f"does not show {want!r}")
        return problems

    async def ui_sign_in(self, http: httpx.AsyncClient, base: str, user: UiUser) -> bool:
        """As a browser: the form (its CSRF token and cookie), then the POST; keeps the cookie."""
        form, started = await self._ui_send(http, "UI sign-in form", "GET", f"{base}/login", 200)
        if form is None:
            return False
        self.tally.note("UI sign-in form", started, "200")
        token = CSRF.search(form.text)
        answer, started = await self._ui_send(
            http,
            "UI sign-in",
            "POST",
            f"{base}/login",
            303,
            data={
                "email": user.email,
                "password": UI_PASSWORD,
                "csrf_token": token.group(1) if token else "",
            },
        )
        if answer is None:
            return False
        cookie = http.cookies.get(UI_COOKIE)
        if answer.headers.get("location") != "/" or not cookie or cookie in user.tokens:
            self.tally.note("UI sign-in", started, "no new session")
            self.tally.ui_problems.append(f"sign-in of {user.email}: no new session cookie")
            return False
        self.tally.note("UI sign-in", started, "303")
        user.tokens.append(cookie)
        return True

    async def ui_sign_out(self, http: httpx.AsyncClient, base: str, user: UiUser) -> bool:
        """Sign out with the session's CSRF token; then the old cookie must lead to /login."""
        old = user.tokens[-1]
        answer, started = await self._ui_send(
            http, "UI sign-out", "POST", f"{base}/logout", 303, data={"csrf_token": csrf_token(old)}
        )
        if answer is None:
            return False
        if not answer.headers.get("location", "").startswith("/login") or http.cookies.get(
            UI_COOKIE
        ):
            self.tally.note("UI sign-out", started, "cookie kept")
            self.tally.ui_problems.append(f"sign-out of {user.email}: the cookie was kept")
            return False
        self.tally.note("UI sign-out", started, "303")
        user.signed_out.add(old)
        op = "UI old cookie after sign-out"
        answer, started = await self._ui_send(
            http, op, "GET", f"{base}/records", 303, headers={"Cookie": f"{UI_COOKIE}={old}"}
        )
        if answer is None:
            return True  # noted as a problem; the client signs in again all the same
        if not answer.headers.get("location", "").startswith("/login"):
            self.tally.note(op, started, "not to /login")
            self.tally.ui_problems.append(f"{op}: sent to {answer.headers.get('location')}")
        else:
            self.tally.note(op, started, "303")
        return True


async def drive(load: Load, clients: int, seconds: float) -> float:
    """``clients`` clients until ``seconds`` pass; the first ``len(users)`` are UI users."""
    started = time.monotonic()
    deadline = started + seconds
    users = load.tenant.users
    await asyncio.gather(
        *(load.ui_client(u, i, deadline) for i, u in enumerate(users)),
        *(load.client(i, deadline) for i in range(len(users), clients)),
    )
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
        "seeded before the load": len(tenant.spaces[0].emails) if tenant.spaces else 0,
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


def verify_ui(database_url: str, tenant: Tenant, tally: Tally) -> dict[str, Any]:
    """Every sign-in opened one session of its client's user and workspace (found by the
    token's hash), every sign-out revoked it, no other session exists, and the second
    workspace's records were not touched."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                UiSession.token_hash, UiSession.workspace_id, UiSession.revoked_at, User.email
            ).join(User, User.id == UiSession.user_id)
        ).all()
        other = tenant.spaces[1]
        other_records = set(
            conn.scalars(select(Record.id).where(Record.workspace_id == other.workspace_id))
        )
    engine.dispose()
    by_hash = {r.token_hash: r for r in rows}
    missing = wrong_owner = revoke_wrong = 0
    for user in tenant.users:
        for token in user.tokens:
            row = by_hash.pop(hash_token(token), None)
            if row is None:
                missing += 1
                continue
            wrong_owner += (row.email, row.workspace_id) != (user.email, user.space.workspace_id)
            revoke_wrong += (row.revoked_at is not None) != (token in user.signed_out)
    unexpected = sum(
        n
        for op, c in tally.statuses.items()
        if op in tally.expected
        for s, n in c.items()
        if s != tally.expected[op]
    )
    return {
        "UI clients": len(tenant.users),
        "pages checked": tally.ui_pages,
        "unexpected answers": unexpected,
        "sign-ins": sum(len(u.tokens) for u in tenant.users),
        "sign-outs": sum(len(u.signed_out) for u in tenant.users),
        "sessions missing": missing,
        "sessions of another user or workspace": wrong_owner,
        "sessions revoked wrongly": revoke_wrong,
        "sessions without a sign-in": len(by_hash),
        "other workspace's records changed": other_records != set(other.record_ids),
    }


def tracebacks(log: Path) -> int:
    """How many tracebacks the servers logged during the load (each shown on stderr)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    for i in found[:5]:
        end = next((j for j in range(i + 1, len(lines)) if not lines[j].startswith(" ")), i)
        print(f"server traceback in {log.name}: {lines[end][:300]}", file=sys.stderr)
    return len(found)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(tally: Tally, elapsed: float) -> list[dict[str, Any]]:
    rows = []
    for op in sorted(tally.latencies, key=lambda o: (o.startswith("UI "), o)):
        lat = tally.latencies[op]
        expected = tally.expected.get(op)

        def right(status: str, expected: str | None = expected) -> bool:
            return status == expected if expected else status.startswith("2")

        ok = sum(n for s, n in tally.statuses[op].items() if right(s))
        errors = {s: n for s, n in tally.statuses[op].items() if not right(s)}
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
    env = {
        "DUPEGUARD_RATE_LIMIT": "1000000/minute",
        "DUPEGUARD_LOGIN_RATE_LIMIT": "1000000/minute",
        "DUPEGUARD_WEBHOOK_WORKER": "false",
    }
    if redis:
        env["DUPEGUARD_REDIS_URL"] = redis
    with database(kind, workdir) as url:
        tenant = prepare(url, args.ui_clients)
        load = Load([], tenant, args.get or list(DEFAULT_GETS), seed=args.seed)
        with servers(url, args.workers, env, log) as urls:
            load.urls = urls
            print(
                f"[{kind}] {args.workers} processes, {args.clients} clients "
                f"({args.ui_clients} of them UI users), {args.seconds} s",
                file=sys.stderr,
            )
            elapsed = asyncio.run(drive(load, args.clients, args.seconds))
        checks = verify(url, tenant, load.tally)
        checks["server tracebacks"] = tracebacks(log)
        ui = verify_ui(url, tenant, load.tally) if tenant.users else {}
        limited: dict[str, Any] = {"checked": False, "why": "no Redis: limits are per process"}
        if redis:
            env["DUPEGUARD_RATE_LIMIT"] = args.limit
            with servers(url, args.workers, env, workdir / f"limit-{kind}.log") as urls:
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
        "ui": ui,
        "ui_problems": load.tally.ui_problems,
        "rate_limit": limited,
    }


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = []
    for r in results:
        lines += [
            f"**{r['database']}**: {r['requests']:,} requests in {r['elapsed_s']:.1f} s "
            f"= {r['throughput_per_s']:.0f}/s ({args.workers} server processes, "
            f"{args.clients} clients, {args.ui_clients} of them UI users)",
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
        if r["ui"]:
            lines.append("UI checks: " + "; ".join(f"{k} {v}" for k, v in r["ui"].items()))
        lines += [f"UI problem: {p}" for p in r["ui_problems"][:10]]
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
            "server tracebacks",
        ):
            if c[name]:
                bad.append(f"{r['database']}: {name} = {c[name]}")
        if not c["balance matches ledger"]:
            bad.append(f"{r['database']}: the balance does not match the ledger")
        for op in r["operations"]:
            server_errors = {s: n for s, n in op["errors"].items() if s.startswith("5")}
            if server_errors:
                bad.append(f"{r['database']}: {op['operation']}: server errors {server_errors}")
        ui = r["ui"]
        if ui:
            for name in (
                "unexpected answers",
                "sessions missing",
                "sessions of another user or workspace",
                "sessions revoked wrongly",
                "sessions without a sign-in",
                "other workspace's records changed",
            ):
                if ui[name]:
                    bad.append(f"{r['database']}: UI {name} = {ui[name]}")
            if not ui["pages checked"]:
                bad.append(f"{r['database']}: no UI page was checked")
        bad += [f"{r['database']}: {p}" for p in r["ui_problems"][:20]]
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
    parser.add_argument(
        "--ui-clients",
        type=int,
        default=4,
        help="how many of the clients are signed-in web UI users (default 4; 0: API only)",
    )
    parser.add_argument("--seconds", type=float, default=30, help="load per database (max 300)")
    parser.add_argument("--get", action="append", help="a GET path to read (repeatable)")
    parser.add_argument("--limit", default="60/minute", help="rate limit for the limit check")
    parser.add_argument("--limit-requests", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 300 or not 1 <= args.clients <= 256 or not 1 <= args.workers <= 16:
        parser.error("bounded: --seconds 1..300, --clients 1..256, --workers 1..16")
    if not 0 <= args.ui_clients <= args.clients or args.ui_clients == 1:
        parser.error("--ui-clients: 0, or 2 up to --clients (one user in each of two workspaces)")
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
