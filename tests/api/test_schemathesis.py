"""Schemathesis over the app's own OpenAPI document, against a real server on loopback.

Every operation of ``/openapi.json`` gets generated requests (examples, coverage and fuzzing
phases; valid and invalid data), and the links of the document (``dupeguard.api.openapi_links``)
drive stateful sequences: create a form, read it, rotate its token, submit through it, delete
it… Each response must conform: no 5xx, only documented status codes, bodies matching their
schema, declared headers present, content types as documented.

One check is off: ``positive_data_acceptance`` (a schema-valid request must not be a 4xx).
The API takes opaque cursors, UUID idempotency keys and rule expressions whose validity no
JSON schema can state (a made-up cursor *must* be refused), so a 400 there is right.

Bounded by examples (``FUZZ_EXAMPLES``, per operation) so the file runs in about two minutes
on SQLite; the PostgreSQL run is smaller. The seed is fixed so a failure reproduces; set
``DUPEGUARD_FUZZ_SEED`` to explore others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.engine import events

from dupeguard.api.app import create_app
from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.settings import Settings
from dupeguard.store.session import session_scope

from .conftest import LiveServer, _serve

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = {"sqlite": 25, "postgresql": 6}
STATEFUL_STEPS = {"sqlite": 6, "postgresql": 4}
SEED = int(os.environ.get("DUPEGUARD_FUZZ_SEED", "20261204"))
ALL_SCOPES = ("read", "write", "write:ai", "admin")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LiveServer, str]]:
    """A server with generous rate limits, no webhook worker (generated webhooks must never
    call out), and a workspace with an all-scope key and a few contacts."""
    from ..conftest import POSTGRES_URL, _postgres_unreachable

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        schema_name = None
    else:
        problem = _postgres_unreachable()
        if problem:
            pytest.skip(problem)
        import uuid

        from sqlalchemy import create_engine, text

        schema_name = f"fz_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
        sep = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema_name}"
    settings_ = Settings(
        database_url=url,
        rate_limit="1000000/minute",
        form_rate_limit="1000000/minute",
        webhook_worker=False,
    )
    live = _serve(create_app(settings_), settings_)
    try:
        with session_scope(live.sessions) as session:
            ws = create_workspace(session=session, name="Fuzz", credits=1_000_000)
            _, api_key = create_key(session=session, workspace_id=ws.id, scopes=ALL_SCOPES)
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as http:
            for first, last, email in [
                ("Jon", "Smith", "jon@example.com"),
                ("John", "Smith", "jon.smith@example.com"),
                ("Ann", "Lee", "ann@example.org"),
                ("Anne", "Lee", "ann.lee@example.org"),
            ]:
                answer = http.post(
                    "/v1/entities/contact/records",
                    json={"data": {"first_name": first, "last_name": last, "email": email}},
                )
                assert answer.status_code == 201, answer.text
        yield request.param, live, api_key
    finally:
        live.stop()
        if schema_name is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
            admin.dispose()


def _config(api_key: str, examples: int, stateful_steps: int) -> Any:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": {"Authorization": f"Bearer {api_key}"},
            "generation": {"max-examples": examples, "mode": "all", "database": "none"},
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "suppress-health-check": ["all"],
            "phases": {"stateful": {"max-steps": stateful_steps}},
        }
    )


@pytest.fixture(scope="module")
def api_schema(fuzz_server: tuple[str, LiveServer, str]) -> Any:
    db, live, api_key = fuzz_server
    config = _config(api_key, FUZZ_EXAMPLES[db], STATEFUL_STEPS[db])
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)


def test_every_operation_and_linked_sequence_conforms(api_schema: Any) -> None:
    """Schemathesis' own engine, as ``st run`` runs it: examples, coverage, fuzzing and
    stateful phases over every operation. (Its pytest plugin's lazy-fixture path does not
    run under pytest 9, so the engine's events are collected here instead.)"""
    tested: set[str] = set()
    phases: dict[str, str] = {}
    failures: dict[str, str] = {}
    errors: list[str] = []
    for event in engine.from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status != engine.Status.SKIP:
                tested.add(event.recorder.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    info = check.failure_info
                    if check.status == engine.Status.FAILURE and info is not None:
                        failure = info.failure
                        where = failure.operation or event.recorder.label
                        key = f"{where}: [{failure.code}] {failure.title}"
                        failures.setdefault(
                            key, f"{key}\n    {failure.message}\n    {info.code_sample}"
                        )
        elif isinstance(event, events.PhaseFinished):
            phases[str(event.phase.name)] = str(event.status)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} kinds of failure:\n" + "\n".join(
        failures[k][:1500] for k in sorted(failures)
    )
    assert set(phases.values()) <= {"success", "skip"}, phases
    assert phases.get("stateful") == "success", phases

    operations = {
        f"{method.upper()} {path}"
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    }
    untested = sorted(operations - {label.split(" -> ")[-1] for label in tested})
    assert not untested, f"operations no phase tested: {untested}"


def test_the_links_cover_the_create_chains(fuzz_server: tuple[str, LiveServer, str]) -> None:
    """The stateful run only reaches ids the API made if the document links them."""
    raw = httpx.get(f"{fuzz_server[1].url}/openapi.json").json()
    linked = {
        link["operationId"]
        for item in raw["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
        for response in op.get("responses", {}).values()
        for link in response.get("links", {}).values()
    }
    by_id = {
        op["operationId"]: (method.upper(), path)
        for path, item in raw["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    with_ids = {
        by_id[op_id]
        for op_id in by_id
        if any(p in by_id[op_id][1] for p in ("_id}", "{rule}", "{field}"))
    }
    missing = sorted(pair for pair in with_ids if pair not in {by_id[i] for i in linked})
    # upsert by field/value and the review queue's sets (made by jobs, not answered by a
    # create) have no link source
    assert missing == [
        ("GET", "/v1/duplicate-record-sets/{set_id}"),
        ("POST", "/v1/duplicate-record-sets/{set_id}/not-duplicate"),
        ("PUT", "/v1/entities/{entity}/records/by/{field}/{value}"),
    ]
