"""Tenant isolation of the web UI, generated from the app's routes (the UI half of
tests/api/test_isolation_sweep.py).

Workspace A holds one or more of every kind of object a page route takes an id of (records of
a built-in and of a custom entity, fields, duplicate sets open and merged, duplicate jobs done
and queued, imports completed and mapped, a form with submissions, matching and duplicate
rules, a merge, audit entries). Workspace B has its own admin signed in. Then:

- every route of the app outside the API (walked from the router, not listed here) that takes
  a path parameter is called, GET and POST, with B's session, A's ids and, on POSTs, B's valid
  CSRF token: it must answer 404 (never 403, so existence does not leak), show none of A's
  data (body, ``Location``, nor the flash message B's next page shows), and a POST must leave
  every row of A as it was;
- every page B can open (lists, B's own detail pages) shows none of A's data, also with each
  query parameter set to one of A's ids, names or cursors (404 or ignored, never shown);
- form fields that name objects (a survivor, a matching rule, an entity) refuse A's ids and
  store no reference to them in B;
- a member of B (refused admin pages with 403 before any lookup) gets for A's ids exactly what
  it gets for made-up ones, and a form nonce A used does not replay into B;
- a route that takes no path parameter, or is not a page, must be in :data:`EXEMPT` with the
  reason it is not swept (it is still visited by the list and query checks when it is a GET
  page); a route that is neither swept nor exempt fails ``test_every_route_is_swept_or_exempt``.

One server and one seeded pair of workspaces per database (module scope), on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import BaseRoute, Mount, Route

from dupeguard.api.app import create_app
from dupeguard.services import browse, merges
from dupeguard.services import duplicate_jobs as jobs
from dupeguard.services import forms as form_svc
from dupeguard.services import imports as import_svc
from dupeguard.services import record_sets as sets
from dupeguard.services.keys import create_key
from dupeguard.services.users import create_user
from dupeguard.services.workspaces import create_workspace
from dupeguard.settings import Settings
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Base
from tests.api.conftest import LiveServer, _serve
from tests.conftest import fresh_database
from tests.web.conftest import UiUser, csrf_of, sign_in

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
ALL_SCOPES = ("read", "write", "write:ai", "admin")

EXEMPT: dict[tuple[str, str], str] = {
    # pages without an id: B's own workspace only; visited with A's values in every query
    # parameter by test_pages_b_can_open_show_nothing_of_a
    ("GET", "/"): "dashboard: B's own counts (list check)",
    ("GET", "/records"): "B's records (list and query checks: ?entity, ?q, ?after)",
    ("GET", "/entities"): "B's entities (list check)",
    ("GET", "/forms"): "B's forms (list check)",
    ("GET", "/forms/new"): "builder for B (query check: ?entity)",
    ("GET", "/imports"): "B's imports (list and query checks: ?after)",
    ("GET", "/imports/new"): "upload form for B (query check: ?entity)",
    ("GET", "/duplicates"): "B's queue (list and query checks: ?entity, ?after)",
    ("GET", "/duplicates/next"): "next set of B's queue (query check: ?after=A's set)",
    ("GET", "/rules"): "B's rules (list and query checks: ?entity)",
    ("GET", "/audit"): "B's audit log (list and query checks: ?record, ?rule, ?actor …)",
    # creations in B's own workspace: the ids they take are form fields, checked by
    # test_form_fields_naming_a_objects_are_refused
    ("POST", "/entities"): "creates an entity in B (a name, not an id)",
    ("POST", "/forms/new"): "creates a form in B (body check: entity=A's entity)",
    ("POST", "/imports/new"): "uploads into B (body check: entity=A's entity)",
    ("POST", "/duplicates/jobs"): "starts a job in B (body check: rule=A's matching rule)",
    # no workspace data at all
    ("GET", "/login"): "public sign-in page (query check: ?next)",
    ("POST", "/login"): "sign-in: the workspace comes from the credentials",
    ("POST", "/logout"): "ends B's own session (no id)",
    ("GET", "/health"): "liveness probe, no workspace data",
    ("MOUNT", "/static"): "public CSS/JS/images, no workspace data",
    # the API and its documentation: tests/api/test_isolation_sweep.py
    ("GET", "/openapi.json"): "the API's schema (the API sweep walks it)",
    ("GET", "/docs"): "the API's documentation page",
    ("GET", "/docs/oauth2-redirect"): "the API documentation's OAuth helper",
    ("GET", "/redoc"): "the API's documentation page",
}
"""Routes not swept with A's ids in the path, and why."""

BODIES: dict[tuple[str, str], dict[str, str]] = {
    # what each POST would change in A if it were not scoped ({name}: A's value)
    ("POST", "/duplicates/{set_id}/merge"): {"survivor": "{r3}", "choice.first_name": "{r4}"},
    ("POST", "/entities/{name}/fields"): {"name": "b_new_field", "type": "text"},
    ("POST", "/entities/{name}/keys/{field}/move"): {"direction": "up"},
    ("POST", "/entities/{name}/fields/{field}/match-key"): {"match_key": "on"},
    ("POST", "/entities/{name}/fields/{field}"): {"label": "B label"},
    ("POST", "/forms/{form_id}"): {
        "name": "B form",
        "thank_you": "B thanks",
        "dedup_mode": "off",
        "active": "on",
        "include_email": "on",
    },
    ("POST", "/f/{form_id}"): {"token": "{b_token}", "email": "b@b-own.example"},
    ("POST", "/imports/{import_id}/mapping"): {
        "map-0": "email",
        "dedup_mode": "off",
        "action": "start",
    },
    ("POST", "/rules/{entity}/matching/new"): {
        "name": "B rule",
        "cond-0-field": "email",
        "cond-0-method": "email",
        "active": "on",
    },
    ("POST", "/rules/{entity}/matching/{rule_id}"): {
        "name": "B rule",
        "cond-0-field": "email",
        "cond-0-method": "email",
        "active": "on",
    },
    ("POST", "/rules/{entity}/duplicate/new"): {
        "name": "B dup rule",
        "matching_rules": "{matching_rule}",
        "action_on_create": "allow",
        "action_on_edit": "allow",
        "active": "on",
    },
    ("POST", "/rules/{entity}/duplicate/{rule_id}"): {
        "name": "B dup rule",
        "matching_rules": "{matching_rule}",
        "action_on_create": "allow",
        "action_on_edit": "allow",
        "active": "on",
    },
}

BODY_PROBES: list[tuple[str, dict[str, str]]] = [
    # B's own pages (path filled with B's ids) sent form fields that name A's objects
    ("/duplicates/{set_open}/merge", {"survivor": "{a:r3}", "choice.first_name": "{a:r4}"}),
    ("/duplicates/jobs", {"method": "rule", "rule": "contact|{a:matching_rule}"}),
    ("/duplicates/jobs", {"method": "model", "entity": "{a:private}", "threshold": "0.5"}),
    (
        "/rules/contact/duplicate/new",
        {
            "name": "B probe rule",
            "matching_rules": "{a:matching_rule}",
            "action_on_create": "allow",
            "action_on_edit": "allow",
            "active": "on",
        },
    ),
    (
        "/rules/contact/matching/new",
        {
            "name": "B probe match",
            "cond-0-field": "email",
            "cond-0-method": "email",
            "against": "{a:private}",
            "active": "on",
        },
    ),
    ("/forms/new", {"entity": "{a:private}", "name": "B probe form", "include_email": "on"}),
    ("/imports/{import_mapped}/mapping", {"map-0": "{a:field}", "dedup_mode": "off"}),
]


@dataclass(frozen=True)
class Tag:
    """The distinctive values one workspace's seed is made of."""

    workspace: str
    private: str  # a custom entity
    field: str  # a custom field of contact
    private_field: str
    people: tuple[tuple[str, str, str], ...]  # (first, last, e-mail) × 4: two pairs
    form: str
    matching_rule: str
    duplicate_rule: str
    filename: str
    custom_value: str


A_TAG = Tag(
    workspace="Alpha Zqx",
    private="zqx_private",
    field="zqx_secret_field",
    private_field="zqx_private_field",
    people=(
        ("Zebulon", "Quarrington", "zeb.q@a-secret.example"),
        ("Zebulon", "Quarrington", "zeb.q@a-secret.example"),
        ("Ysolde", "Vantongeren", "ysolde@a-secret.example"),
        ("Ysolde", "Vantongeren", "ysolde@a-secret.example"),
    ),
    form="Zqx sign-up form",
    matching_rule="Zqx email match",
    duplicate_rule="Zqx duplicate watch",
    filename="zqx-import.csv",
    custom_value="zqx-custom-value",
)
B_TAG = Tag(
    workspace="Bravo",
    private="bb_own",
    field="bb_field",
    private_field="bb_own_field",
    people=(
        ("Bea", "Brook", "bea@b-own.example"),
        ("Bea", "Brook", "bea@b-own.example"),
        ("Bob", "Barker", "bob@b-own.example"),
        ("Bob", "Barker", "bob@b-own.example"),
    ),
    form="B form",
    matching_rule="B email match",
    duplicate_rule="B duplicate watch",
    filename="b-import.csv",
    custom_value="b-custom-value",
)


@dataclass
class Seeded:
    workspace_id: str
    ids: dict[str, str]  # what a path or body names: r1…r4, private_record, form, …
    token: str  # the form's token
    cursors: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)  # names and values shown on pages


@dataclass
class World:
    db: str
    live: LiveServer
    a: Seeded
    b: Seeded
    client: httpx.Client  # B, signed in
    csrf: str  # B's CSRF token
    a_admin: UiUser  # not signed in (but for the nonce check)

    @property
    def telltales(self) -> list[str]:
        """What must never show to B: A's ids, names and values."""
        return [*self.a.ids.values(), *self.a.strings, self.a.workspace_id]


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201, 202), answer.text
    return answer.json()


def _seed(http: httpx.Client, live: LiveServer, workspace_id: str, t: Tag) -> Seeded:
    """One of everything through the API, as a client would make it."""
    _ok(http.post("/v1/entities", json={"name": t.private, "label": t.private.title()}))
    _ok(
        http.post(
            f"/v1/entities/{t.private}/fields", json={"name": t.private_field, "type": "text"}
        )
    )
    _ok(http.post("/v1/entities/contact/fields", json={"name": t.field, "type": "text"}))
    private_record = _ok(
        http.post(
            f"/v1/entities/{t.private}/records",
            json={"data": {t.private_field: t.custom_value}},
        )
    )["record_id"]
    rids = [
        _ok(
            http.post(
                "/v1/entities/contact/records",
                json={
                    "data": {
                        "first_name": first,
                        "last_name": last,
                        "email": email,
                        t.field: t.custom_value,
                    },
                    "dedup_mode": "off",
                },
            )
        )["record_id"]
        for first, last, email in t.people
    ]
    matching = _ok(
        http.post(
            "/v1/entities/contact/matching-rules",
            json={"name": t.matching_rule, "conditions": [{"field": "email", "method": "email"}]},
        )
    )["id"]
    duplicate = _ok(
        http.post(
            "/v1/entities/contact/duplicate-rules",
            json={"name": t.duplicate_rule, "matching_rules": [matching], "report": True},
        )
    )["id"]
    # a record the duplicate rule reports (an audit entry naming the rule)
    first, last, email = t.people[2]
    _ok(
        http.post(
            "/v1/entities/contact/records",
            json={"data": {"first_name": first, "last_name": last, "email": email}},
        )
    )
    form = _ok(
        http.post(
            "/v1/forms",
            json={"name": t.form, "entity": "contact", "fields": [{"field": "email"}]},
        )
    )
    for n in range(2):
        _ok(
            http.post(
                f"/v1/forms/{form['id']}/submissions",
                headers={"X-Form-Token": form["token"]},
                json={"data": {"email": f"form{n}-{t.people[0][2]}"}},
            )
        )
    csv = f"email,first_name\nimp-{t.people[0][2]},{t.people[0][0]}\n".encode()
    imports = []
    for n in range(2):
        item = _ok(
            http.post(
                "/v1/imports",
                params={"entity": "contact", "filename": f"{n}-{t.filename}"},
                headers={"Content-Type": "text/csv"},
                content=csv,
            )
        )["id"]
        _ok(
            http.put(
                f"/v1/imports/{item}/mapping",
                json={
                    "mapping": {"email": "email", "first_name": "first_name"},
                    "dedup_mode": "off",
                },
            )
        )
        imports.append(item)
    _ok(http.post(f"/v1/imports/{imports[0]}/start?wait=true"))  # the other stays mapped
    job = _ok(
        http.post("/v1/duplicate-jobs?wait=true", json={"entity": "contact", "threshold": 0.5})
    )
    assert job["status"] == "completed", job
    with session_scope(live.sessions) as session:
        found, _ = sets.list_sets(session=session, workspace_id=workspace_id, limit=50)
        members = sets.members_of(session=session, set_ids=[s.id for s in found])
    by_record = {m.record_id: s for s in found for m in members[s.id]}
    assert rids[0] in by_record and rids[2] in by_record, "the job did not pair the people"
    merged_set, open_set = by_record[rids[0]].id, by_record[rids[2]].id
    assert merged_set != open_set
    merge = _ok(
        http.post(
            "/v1/entities/contact/merges",
            json={"primary_id": rids[0], "duplicate_ids": [rids[1]]},
        )
    )["id"]
    ids = {
        "r1": rids[0],
        "r2": rids[1],
        "r3": rids[2],
        "r4": rids[3],
        "private_record": private_record,
        "matching_rule": matching,
        "duplicate_rule": duplicate,
        "form": form["id"],
        "import_done": imports[0],
        "import_mapped": imports[1],
        "job_done": job["id"],
        "set_open": open_set,
        "set_merged": merged_set,
        "merge": merge,
    }
    seeded = Seeded(
        workspace_id=workspace_id,
        ids=ids,
        token=form["token"],
        strings=[
            t.workspace,
            t.private,
            t.field,
            t.private_field,
            t.form,
            t.matching_rule,
            t.duplicate_rule,
            t.filename,
            t.custom_value,
            *{p for person in t.people for p in person},
        ],
    )
    seeded.cursors = _cursors(live, workspace_id, ids)
    return seeded


def _cursors(live: LiveServer, workspace_id: str, ids: dict[str, str]) -> list[str]:
    """Real ``after`` cursors of A's lists (each service's first page of one)."""
    out: list[str | None] = []
    with session_scope(live.sessions) as session:
        out.append(
            browse.browse_records(
                session=session, workspace_id=workspace_id, entity="contact", limit=1
            ).next_cursor
        )
        out.append(sets.list_sets(session=session, workspace_id=workspace_id, limit=1)[1])
        out.append(merges.audit_entries(session=session, workspace_id=workspace_id, limit=1)[1])
        out.append(import_svc.list_imports(session=session, workspace_id=workspace_id, limit=1)[1])
        out.append(
            form_svc.list_submissions(
                session=session, workspace_id=workspace_id, form_id=ids["form"], limit=1
            )[1]
        )
    cursors = [c for c in out if c]
    assert len(cursors) >= 4, cursors
    return cursors


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with fresh_database(request.param, tmp_path_factory.mktemp("uiiso")) as url:
        settings = Settings(
            database_url=url,
            rate_limit="1000000/minute",
            form_rate_limit="1000000/minute",
            login_rate_limit="1000/minute",
            webhook_worker=False,
        )
        live = _serve(create_app(settings), settings)
        try:
            seeded: dict[str, Seeded] = {}
            users: dict[str, UiUser] = {}
            for tag in (A_TAG, B_TAG):
                with session_scope(live.sessions) as session:
                    ws = create_workspace(session=session, name=tag.workspace, credits=1000)
                    _, key = create_key(session=session, workspace_id=ws.id, scopes=ALL_SCOPES)
                    workspace_id = ws.id
                users[tag.workspace] = _user(live, workspace_id, f"admin@{tag.private}.example")
                headers = {"Authorization": f"Bearer {key}"}
                with httpx.Client(base_url=live.url, headers=headers, timeout=60) as http:
                    seeded[tag.workspace] = _seed(http, live, workspace_id, tag)
            a, b = seeded[A_TAG.workspace], seeded[B_TAG.workspace]
            a_admin = users[A_TAG.workspace]
            a.strings.append(a_admin.email)
            with httpx.Client(base_url=live.url, timeout=60) as client:
                assert sign_in(client, users[B_TAG.workspace]).status_code == 303
                csrf = csrf_of(client.get("/").text)
                yield World(request.param, live, a, b, client, csrf, a_admin)
        finally:
            live.stop()


def _user(live: LiveServer, workspace_id: str, email: str, role: str = "admin") -> UiUser:
    password = "correct horse battery"
    with session_scope(live.sessions) as session:
        user = create_user(
            session=session, workspace_id=workspace_id, email=email, password=password, role=role
        )
        return UiUser(workspace_id, user.id, user.email, password, role)


# --- the routes ----------------------------------------------------------------------------


def _routes(app: FastAPI) -> list[tuple[str, str, BaseRoute]]:
    """Every (method, path) of the app outside the API's ``/v1``; mounts as ``MOUNT``."""
    out: list[tuple[str, str, BaseRoute]] = []
    stack = list(app.routes)
    while stack:
        route = stack.pop()
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            stack.extend(inner)
        elif isinstance(route, Mount):
            out.append(("MOUNT", route.path, route))
        elif isinstance(route, (APIRoute, Route)):
            if route.path == "/v1" or route.path.startswith("/v1/"):
                continue  # tests/api/test_isolation_sweep.py
            out += [(m, route.path, route) for m in sorted(route.methods or ()) if m != "HEAD"]
        else:
            out.append(("UNKNOWN", repr(route), route))
    return sorted(out, key=lambda r: (r[1], r[0]))


def _query_params(route: BaseRoute) -> list[str]:
    if not isinstance(route, APIRoute):
        return []
    return [q.alias for q in route.dependant.query_params]


def _path_values(seeded: Seeded, tag: Tag, path: str, private: bool) -> dict[str, list[str]]:
    """Each path parameter's candidates: of the custom entity (``private``) or of contact."""
    ids = seeded.ids
    entity = tag.private if private else "contact"
    rule = "matching_rule" if "/matching/" in path else "duplicate_rule"
    return {
        "entity": [entity],
        "name": [entity],
        "field": [tag.private_field if private else tag.field],
        "record_id": [ids["private_record"]] if private else [ids["r1"], ids["r2"], ids["r3"]],
        "set_id": [ids["set_open"], ids["set_merged"]],
        "job_id": [ids["job_done"], *([ids["job_queued"]] if "job_queued" in ids else [])],
        "merge_id": [ids["merge"]],
        "form_id": [ids["form"]],
        "import_id": [ids["import_done"], ids["import_mapped"]],
        "rule_id": [ids[rule]],
    }


def _urls(seeded: Seeded, tag: Tag, path: str, *, first_only: bool = False) -> list[str]:
    """``path`` filled with ``seeded``'s values: every combination of the candidates, for the
    custom entity and (when the path names more than an entity) for contact."""
    params = _PARAM.findall(path)
    entity_only = set(params) <= {"entity", "name"}
    urls: list[str] = []
    for private in (False,) if first_only else (True, False):
        if not private and entity_only and not first_only:
            continue  # B has a contact entity of its own: not A's to find
        values = _path_values(seeded, tag, path, private)
        lists = [values[p][:1] if first_only else values[p] for p in params]
        for combo in itertools.product(*lists):
            filled = dict(zip(params, combo, strict=True))
            urls.append(_PARAM.sub(lambda m, f=filled: f[m.group(1)], path))  # type: ignore[misc]
    return list(dict.fromkeys(urls))


def _fill(template: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {
        k: re.sub(r"{([\w:]+)}", lambda m: values.get(m.group(1), m.group(0)), v)
        for k, v in template.items()
    }


# --- checks --------------------------------------------------------------------------------


def _leaks(answer: httpx.Response, telltales: list[str], allowed: str = "") -> list[str]:
    shown = answer.text + "\n" + answer.headers.get("location", "")
    return [t for t in telltales if t and t in shown and t not in allowed]


def _snapshot(live: LiveServer, workspace_id: str) -> dict[str, list[str]]:
    """Every row of the workspace (and every row of the tables that hang off others)."""
    out: dict[str, list[str]] = {}
    with session_scope(live.sessions) as session:
        for table in Base.metadata.sorted_tables:
            query = select(table)
            if "workspace_id" in table.c:
                query = query.where(table.c.workspace_id == workspace_id)
            elif table.name == "workspaces":
                query = query.where(table.c.id == workspace_id)
            else:  # rows of the workspace's rows (import rows, set members)
                owner = next(fk for fk in table.foreign_keys if "workspace_id" in fk.column.table.c)
                parent = owner.column.table
                query = query.where(
                    owner.parent.in_(
                        select(owner.column).where(parent.c.workspace_id == workspace_id)
                    )
                )
            out[table.name] = sorted(repr(tuple(row)) for row in session.execute(query))
    return out


def _diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [
        f"{name}: -{sorted(set(rows) - set(after[name]))[:2]} +"
        f"{sorted(set(after[name]) - set(rows))[:2]}"
        for name, rows in before.items()
        if rows != after[name]
    ]


def _post(world: World, url: str, data: dict[str, str]) -> httpx.Response:
    return world.client.post(url, data={"csrf_token": world.csrf, **data})


def _flash_after(world: World) -> httpx.Response:
    """The page B sees next: it shows (and consumes) any flash message the last POST left."""
    return world.client.get("/")


# --- tests ---------------------------------------------------------------------------------


def test_every_route_is_swept_or_exempt(world: World) -> None:
    """A new route needs no list entry to be swept; one without an id must say why not."""
    problems = []
    seen = set()
    for method, path, _ in _routes(world.live.app):
        seen.add((method, path))
        params = _PARAM.findall(path)
        if method == "UNKNOWN":
            problems.append(f"a route of an unknown kind: {path}")
        elif (method, path) in EXEMPT:
            if params and method != "MOUNT":
                problems.append(f"{method} {path}: takes {params}, sweep it instead of exempting")
        elif not params:
            problems.append(f"{method} {path}: no id to sweep; add it to EXEMPT with a reason")
        elif method not in ("GET", "POST"):
            problems.append(f"{method} {path}: the sweep sends GET and POST only")
        else:
            unknown = set(params) - set(_path_values(world.a, A_TAG, path, False))
            if unknown:
                problems.append(f"{method} {path}: seed A with a {sorted(unknown)} to sweep it")
    stale = set(EXEMPT) - seen
    assert not stale, f"EXEMPT names routes that are gone: {sorted(stale)}"
    assert not problems, "\n".join(problems)


def test_b_gets_404_for_every_id_of_a(world: World) -> None:
    """Every page route with a path parameter, GET and POST, with A's ids and B's session."""
    a = world.a
    with session_scope(world.live.sessions) as session:  # a job B could cancel if unscoped
        a.ids["job_queued"] = jobs.create(
            session=session, workspace_id=a.workspace_id, entity="contact", threshold=0.5
        ).id
    try:
        before = _snapshot(world.live, a.workspace_id)
        fill = {**a.ids, "b_token": world.b.token}
        swept, problems = 0, []
        started = time.monotonic()
        for method, path, _ in _routes(world.live.app):
            if not _PARAM.findall(path) or (method, path) in EXEMPT:
                continue
            body = _fill(BODIES.get((method, path), {}), fill)
            for url in _urls(a, A_TAG, path):
                if method == "GET":
                    extra = "?token=" + world.b.token if path.startswith("/f/") else ""
                    answer = world.client.get(url + extra)
                else:
                    answer = _post(world, url, body)
                swept += 1
                if answer.status_code != 404:
                    problems.append(f"{method} {url}: {answer.status_code} (want 404)")
                leaked = _leaks(answer, world.telltales)
                if method == "POST":
                    leaked += _leaks(_flash_after(world), world.telltales)
                if leaked:
                    problems.append(f"{method} {url}: shows A's {sorted(set(leaked))}")
        after = _snapshot(world.live, a.workspace_id)
    finally:
        with session_scope(world.live.sessions) as session:
            jobs.cancel(session=session, workspace_id=a.workspace_id, job_id=a.ids["job_queued"])
        del a.ids["job_queued"]
    assert not problems, "\n".join(problems)
    assert not _diff(before, after), _diff(before, after)
    assert swept >= 60, swept
    print(f"{world.db}: {swept} requests in {time.monotonic() - started:.1f} s")


def test_pages_b_can_open_show_nothing_of_a(world: World) -> None:
    """Every GET page of B (lists, and B's own detail pages), first plain, then with each query
    parameter set to each of A's ids, names and cursors: 404 or ignored, never shown."""
    probes = [*world.a.ids.values(), *world.a.cursors, world.a.workspace_id]
    probes += [A_TAG.private, A_TAG.field, A_TAG.people[0][2], "user:" + world.a_admin.email]
    problems, pages, requests = [], 0, 0
    started = time.monotonic()
    before = _snapshot(world.live, world.a.workspace_id)
    for method, path, route in _routes(world.live.app):
        if method != "GET" or not isinstance(route, APIRoute):
            continue
        base = _urls(world.b, B_TAG, path, first_only=True)[0] if _PARAM.findall(path) else path
        own: dict[str, str] = {"token": world.b.token} if path.startswith("/f/") else {}
        plain = world.client.get(base, params=own)
        pages += 1
        if plain.status_code not in (200, 303):
            problems.append(f"GET {base}: {plain.status_code}")
        for name in ["", *_query_params(route)]:
            for value in probes if name else [""]:
                url = f"{base}?{urlencode({**own, name: value})}" if name else base
                answer = world.client.get(url)
                requests += 1
                if answer.status_code not in (200, 303, 400, 404) or answer.status_code == 403:
                    problems.append(f"GET {url}: {answer.status_code}")
                leaked = _leaks(answer, world.telltales, allowed=value)
                if answer.status_code == 303:
                    leaked += _leaks(
                        world.client.get(answer.headers["location"]), world.telltales, value
                    )
                if leaked:
                    problems.append(f"GET {url}: shows A's {sorted(set(leaked))}")
    assert not problems, "\n".join(problems[:40])
    assert pages >= 25, pages
    assert not _diff(before, _snapshot(world.live, world.a.workspace_id))
    print(f"{world.db}: {requests} requests in {time.monotonic() - started:.1f} s")


def test_form_fields_naming_a_objects_are_refused(world: World) -> None:
    """B's own pages sent A's ids in their form fields: refused or ignored, A unchanged, and no
    reference to A stored in B."""
    fill = {**world.b.ids, **{f"a:{k}": v for k, v in world.a.ids.items()}}
    fill |= {"a:private": A_TAG.private, "a:field": A_TAG.field}
    before = _snapshot(world.live, world.a.workspace_id)
    problems = []
    for path, template in BODY_PROBES:
        url = _fill({"url": path}, fill)["url"]
        data = _fill(template, fill)
        answer = _post(world, url, data)
        if answer.status_code not in (303, 400, 404):
            problems.append(f"POST {url} {data}: {answer.status_code}")
        typed = " ".join(data.values())
        leaked = _leaks(answer, world.telltales, typed) + _leaks(
            _flash_after(world), world.telltales, typed
        )
        if leaked:
            problems.append(f"POST {url} {data}: shows A's {sorted(set(leaked))}")
    assert not problems, "\n".join(problems)
    assert not _diff(before, _snapshot(world.live, world.a.workspace_id))
    stored = _snapshot(world.live, world.b.workspace_id)
    kept = {
        table: [t for t in [*world.a.ids.values(), A_TAG.private] if t in str(rows)]
        for table, rows in stored.items()
    }
    assert not any(kept.values()), {k: v for k, v in kept.items() if v}


def test_a_member_cannot_tell_a_ids_from_made_up_ones(world: World) -> None:
    """A member of B is refused admin pages (403) before any lookup, so for a member too the
    answer to A's id is the answer to an id that exists nowhere."""
    fake = {v: str(uuid.uuid4()) for v in world.a.ids.values()}
    fake |= {A_TAG.private: "no_such_entity", A_TAG.field: "no_such_field"}
    fake[A_TAG.private_field] = "no_such_private_field"
    user = _user(world.live, world.b.workspace_id, "member@b-own.example", role="member")
    before = _snapshot(world.live, world.a.workspace_id)
    problems, compared = [], 0
    with httpx.Client(base_url=world.live.url, timeout=60) as member:
        assert sign_in(member, user).status_code == 303
        csrf = csrf_of(member.get("/").text)
        for method, path, _ in _routes(world.live.app):
            if not _PARAM.findall(path) or (method, path) in EXEMPT or path.startswith("/f/"):
                continue
            for url in _urls(world.a, A_TAG, path):
                made_up = re.sub(
                    "|".join(re.escape(v) for v in sorted(fake, key=len, reverse=True)),
                    lambda m: fake[m.group(0)],
                    url,
                )
                data = {"csrf_token": csrf}
                real = member.request(method, url, data=data if method == "POST" else None)
                other = member.request(method, made_up, data=data if method == "POST" else None)
                compared += 1
                if real.status_code not in (403, 404) or real.status_code != other.status_code:
                    problems.append(
                        f"{method} {url}: {real.status_code}, made-up id {other.status_code}"
                    )
                if _leaks(real, world.telltales):
                    problems.append(f"{method} {url}: shows A's {_leaks(real, world.telltales)}")
    assert not problems, "\n".join(problems)
    assert compared >= 50, compared
    assert not _diff(before, _snapshot(world.live, world.a.workspace_id))


def test_form_nonces_are_per_workspace(world: World) -> None:
    """A form's nonce (run_once) used in A does not make B's identical form "already sent"
    (nor redirect B to A's page)."""
    nonce = str(uuid.uuid4())
    with httpx.Client(base_url=world.live.url, timeout=60) as admin_a:
        assert sign_in(admin_a, world.a_admin).status_code == 303
        a_csrf = csrf_of(admin_a.get("/").text)
        done = admin_a.post(
            f"/entities/{A_TAG.private}/fields",
            data={"csrf_token": a_csrf, "form_nonce": nonce, "name": "zqx_nonce_field"},
        )
        assert done.status_code == 303, done.text
    answer = _post(
        world,
        f"/entities/{A_TAG.private}/fields",
        {"form_nonce": nonce, "name": "zqx_nonce_field"},
    )
    assert answer.status_code == 404, answer.text  # not A's replayed redirect
    mine = _post(
        world, f"/entities/{B_TAG.private}/fields", {"form_nonce": nonce, "name": "bb_nonce"}
    )
    assert mine.status_code == 303 and mine.headers["location"] == f"/entities/{B_TAG.private}"
    page = world.client.get(mine.headers["location"])
    assert "already sent" not in page.text and "bb_nonce" in page.text
    assert "zqx" not in page.text


def test_sweep_sees_what_b_may_see(world: World) -> None:
    """The checks above can fail: B's own ids open B's pages, and they show B's data."""
    b = world.b
    record = world.client.get(f"/records/contact/{b.ids['r3']}")
    assert record.status_code == 200 and B_TAG.people[2][0] in record.text
    review = world.client.get(f"/duplicates/{b.ids['set_open']}")
    assert review.status_code == 200 and B_TAG.people[2][2] in review.text
    assert B_TAG.form in world.client.get(f"/forms/{b.ids['form']}").text
    assert B_TAG.matching_rule in world.client.get("/rules").text
    audit = world.client.get("/audit")
    assert B_TAG.duplicate_rule in audit.text or b.ids["merge"] in audit.text
    public = world.client.get(f"/f/{b.ids['form']}", params={"token": b.token})
    assert public.status_code == 200
    a_public = world.client.get(f"/f/{world.a.ids['form']}", params={"token": world.a.token})
    assert a_public.status_code == 200  # A's own token opens A's public page (to anyone)
