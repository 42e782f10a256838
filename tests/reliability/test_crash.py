"""``kill -9`` of the server in the middle of an import, a bulk call, a merge and a duplicate
job, on SQLite and PostgreSQL. After a restart the data is consistent and each operation has
finished, rolled back or resumes, and says which.

"In the middle" is deterministic: ``DUPEGUARD_TEST_PAUSE_AT`` makes the server sleep before a
statement inside the operation's transaction (after some of its writes), and the test kills
it there. Where a status depends on a heartbeat going stale (60 s), the test ages the stored
heartbeat instead of waiting.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.services import entities
from dupeguard.store.session import session_scope
from dupeguard.store.tables import (
    DuplicateJob,
    DuplicateRecordSet,
    IdempotencyRecord,
    Import,
    ImportRow,
    Merge,
    Record,
    utcnow,
)
from tests.api.test_imports_api import _ready

from .conftest import Key

AGED = timedelta(minutes=5)  # older than every STALE_AFTER


def _in_background(call: Any) -> threading.Thread:
    """Run a request the kill will cut off (its connection error is expected)."""

    def run() -> None:
        with contextlib.suppress(httpx.TransportError):
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _count(sessions: sessionmaker[Session], *where: Any, table: Any = Record) -> int:
    with session_scope(sessions) as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _emails(sessions: sessionmaker[Session], workspace_id: str, entity_live: bool = True) -> list:
    with session_scope(sessions) as s:
        query = select(Record.data["email"].as_string()).where(Record.workspace_id == workspace_id)
        if entity_live:
            query = query.where(Record.deleted_at.is_(None))
        return sorted(s.scalars(query))


# --- (a) an import ---------------------------------------------------------------------------


def test_kill_during_an_import_rolls_the_chunk_back_and_resumes(server, sessions, key: Key):
    with session_scope(sessions) as s:
        entities.set_match_keys(
            session=s, workspace_id=key.workspace_id, entity="lead", fields=["email"]
        )
    lines = ["email,first_name"] + [f"u{i % 150}@x.com,N{i}" for i in range(200)]
    first = server(DUPEGUARD_TEST_PAUSE_AT="INSERT INTO import_rows")
    with first.client() as client:
        iid = _ready(client, key, "\n".join(lines) + "\n")
        started = client.post(f"/v1/imports/{iid}/start", headers=key.headers)
        assert started.status_code == 202, started.text
        first.wait_paused()  # the chunk's records are written, its report rows not yet
    first.kill9()

    with session_scope(sessions) as s:
        item = s.get(Import, iid)
        assert item is not None
        assert (item.status, item.processed_rows) == ("running", 0)
    assert _count(sessions, table=ImportRow) == 0
    assert _count(sessions, Record.workspace_id == key.workspace_id) == 0  # rolled back
    with session_scope(sessions) as s:  # as if a minute passed without a heartbeat
        s.execute(update(Import).where(Import.id == iid).values(heartbeat_at=utcnow() - AGED))

    second = server()
    with second.client() as client:
        state = client.get(f"/v1/imports/{iid}", headers=key.headers).json()
        assert state["status"] == "interrupted" and state["processed_rows"] == 0
        resumed = client.post(f"/v1/imports/{iid}/resume?wait=true", headers=key.headers)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "completed"
        assert resumed.json()["counts"]["created"] == 150
        assert resumed.json()["counts"]["skipped"] == 50
    assert _count(sessions, table=ImportRow) == 200
    assert _emails(sessions, key.workspace_id) == sorted(f"u{i}@x.com" for i in range(150))


# --- (b) a bulk call -------------------------------------------------------------------------


def test_kill_during_a_bulk_call_saves_nothing_and_the_retry_runs_once(server, sessions, key):
    with session_scope(sessions) as s:
        entities.set_match_keys(
            session=s, workspace_id=key.workspace_id, entity="contact", fields=["email"]
        )
    body = {"records": [{"data": {"email": f"b{i}@x.com", "first_name": "B"}} for i in range(60)]}
    headers = {**key.headers, "Idempotency-Key": str(uuid.uuid4())}
    path = "/v1/entities/contact/records/bulk"
    first = server(DUPEGUARD_TEST_PAUSE_AT="INSERT INTO record_keys")
    with first.client() as client:
        call = _in_background(lambda: client.post(path, headers=headers, json=body))
        first.wait_paused()  # records inserted, their key rows not yet
        first.kill9()
        call.join(30)

    assert _count(sessions, Record.workspace_id == key.workspace_id) == 0
    with session_scope(sessions) as s:  # the claim of the killed call is left running
        states = list(s.scalars(select(IdempotencyRecord.state)))
    assert states == ["running"]

    second = server()
    with second.client() as client:
        retried = client.post(path, headers=headers, json=body)  # owner dead: runs now
        assert retried.status_code == 200, retried.text
        assert "idempotent-replayed" not in retried.headers
        assert [r["decision"] for r in retried.json()["results"]] == ["created"] * 60
        again = client.post(path, headers=headers, json=body)
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == retried.json()
    assert _emails(sessions, key.workspace_id) == sorted(f"b{i}@x.com" for i in range(60))


def test_the_answer_is_stored_in_the_works_transaction(server, sessions, key):
    """Killed while storing the answer: the work rolls back with it (before, the answer was
    stored after the work's commit, so a kill in between left records whose retry ran the
    call again)."""
    body = {"records": [{"data": {"email": f"c{i}@x.com"}} for i in range(5)]}
    headers = {**key.headers, "Idempotency-Key": str(uuid.uuid4())}
    path = "/v1/entities/contact/records/bulk"
    first = server(DUPEGUARD_TEST_PAUSE_AT="UPDATE idempotency_keys")
    with first.client() as client:
        call = _in_background(lambda: client.post(path, headers=headers, json=body))
        first.wait_paused()
    first.kill9()
    call.join(30)
    assert _count(sessions, Record.workspace_id == key.workspace_id) == 0
    second = server()
    with second.client() as client:
        done = client.post(path, headers=headers, json=body)
        assert done.status_code == 200 and "idempotent-replayed" not in done.headers
        replay = client.post(path, headers=headers, json=body)
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.json() == done.json()
    assert _count(sessions, Record.workspace_id == key.workspace_id) == 5


# --- (c) a merge -----------------------------------------------------------------------------


def test_kill_during_a_merge_rolls_it_back(server, sessions, key: Key):
    first = server(DUPEGUARD_TEST_PAUSE_AT="INSERT INTO merges")
    with first.client() as client:
        ids = []
        for name in ("Ann", "Anne", "Annie"):
            made = client.post(
                "/v1/entities/contact/records",
                headers=key.headers,
                json={"data": {"first_name": name, "email": f"{name}@x.com"}, "dedup_mode": "off"},
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["record_id"])
        body = {"primary_id": ids[0], "duplicate_ids": ids[1:]}
        call = _in_background(
            lambda: client.post("/v1/entities/contact/merges", headers=key.headers, json=body)
        )
        first.wait_paused()  # the losers are already marked merged inside the transaction
    first.kill9()
    call.join(30)

    assert _count(sessions, table=Merge) == 0
    with session_scope(sessions) as s:
        rows = {r.id: r for r in s.scalars(select(Record).where(Record.id.in_(ids)))}
        assert all(r.deleted_at is None and r.merged_into is None for r in rows.values())
        assert all(r.version == 1 for r in rows.values()), [r.version for r in rows.values()]
        assert rows[ids[0]].data["first_name"] == "Ann"

    second = server()
    with second.client() as client:
        merged = client.post("/v1/entities/contact/merges", headers=key.headers, json=body)
        assert merged.status_code in (200, 201), merged.text
        listed = client.get("/v1/merges", headers=key.headers).json()["data"]
        assert [m["id"] for m in listed] == [merged.json()["id"]]
    assert (
        _count(sessions, Record.workspace_id == key.workspace_id, Record.deleted_at.is_(None)) == 1
    )


# --- (d) a duplicate job ---------------------------------------------------------------------


def _load_contacts(client: httpx.Client, key: Key) -> None:
    rows = []
    for i in range(40):  # 20 people, each twice with a small difference
        person = i // 2
        rows.append(
            {
                "data": {
                    "first_name": f"Name{person}",
                    "last_name": f"Surname{person}" + ("" if i % 2 else "s"),
                    "email": f"p{person}@example.com",
                    "phone": f"+1415555{person:04d}",
                }
            }
        )
    answer = client.post(
        "/v1/entities/contact/records/bulk",
        headers=key.headers,
        json={"records": rows, "dedup_mode": "off"},
    )
    assert answer.status_code == 200, answer.text


def _poll(client: httpx.Client, key: Key, job_id: str, until: Any, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/duplicate-jobs/{job_id}", headers=key.headers).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_kill_during_a_duplicate_job_marks_it_interrupted(server, sessions, key: Key):
    setup = server()
    with setup.client() as client:
        _load_contacts(client, key)
        done = client.post(
            "/v1/duplicate-jobs?wait=true", headers=key.headers, json={"entity": "contact"}
        )
        assert done.status_code == 200 and done.json()["status"] == "completed", done.text
        earlier = done.json()["id"]
    setup.stop()
    open_sets = _count(sessions, DuplicateRecordSet.status == "open", table=DuplicateRecordSet)
    assert open_sets > 0

    first = server(DUPEGUARD_TEST_PAUSE_AT="INSERT INTO duplicate_record_sets")
    with first.client() as client:
        started = client.post("/v1/duplicate-jobs", headers=key.headers, json={"entity": "contact"})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        first.wait_paused()  # saving: the earlier job's sets superseded, the new ones not written
    first.kill9()

    with session_scope(sessions) as s:
        job = s.get(DuplicateJob, job_id)
        assert job is not None and job.status == "running"
        sets = s.execute(select(DuplicateRecordSet.job_id, DuplicateRecordSet.status)).all()
    assert {(j, st) for j, st in sets} == {(earlier, "open")}  # the supersede rolled back
    assert len(sets) == open_sets
    with session_scope(sessions) as s:  # as if a minute passed without a heartbeat
        s.execute(
            update(DuplicateJob)
            .where(DuplicateJob.id == job_id)
            .values(heartbeat_at=utcnow() - AGED, started_at=utcnow() - AGED)
        )

    second = server()
    deadline = time.monotonic() + 30
    while True:  # the restarted server's sweeper stores the verdict
        with session_scope(sessions) as s:
            job = s.get(DuplicateJob, job_id)
            assert job is not None
            if job.status != "running":
                break
        assert time.monotonic() < deadline, "the dead job stayed running"
        time.sleep(0.1)
    assert (job.status, job.error, job.stage) == ("failed", "interrupted", "interrupted")
    assert job.finished_at is not None
    with second.client() as client:
        seen = client.get(f"/v1/duplicate-jobs/{job_id}", headers=key.headers).json()
        assert (seen["status"], seen["error"]) == ("failed", "interrupted")
        rerun = client.post("/v1/duplicate-jobs", headers=key.headers, json={"entity": "contact"})
        assert rerun.status_code == 202, rerun.text
        finished = _poll(client, key, rerun.json()["id"], lambda j: j["status"] != "running")
        assert finished["status"] == "completed", finished
    with session_scope(sessions) as s:
        by_job = dict(
            s.execute(
                select(DuplicateRecordSet.job_id, func.count())
                .where(DuplicateRecordSet.status == "open")
                .group_by(DuplicateRecordSet.job_id)
            ).all()
        )
    assert by_job == {rerun.json()["id"]: open_sets}
