"""Duplicate jobs and record sets over HTTP, on SQLite and PostgreSQL: a job in the request
and in the background, progress while running, cancel (running and queued), interrupted
jobs, the review queue with members and pairs, "not a duplicate" and reruns, input checks,
scopes and workspaces."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from dupeguard.services import duplicate_jobs as jobs
from dupeguard.services import intake
from dupeguard.store.session import session_scope
from dupeguard.store.tables import DuplicateJob, utcnow
from dupeguard.synthetic import generate_contacts

JOBS = "/v1/duplicate-jobs"
SETS = "/v1/duplicate-record-sets"


def load_contacts(live_server, w, n: int = 150, seed: int = 3) -> list[str]:
    records, _ = generate_contacts(n, seed=seed)
    rows = [
        intake.Inbound({k: v for k, v in r.items() if k not in ("id", "created_at") and v})
        for r in records.iter_rows(named=True)
    ]
    with session_scope(live_server.sessions) as s:
        out = intake.submit_many(
            session=s,
            workspace_id=w.workspace_id,
            entity="contact",
            rows=rows,
            source="import",
            mode="off",
        )
    return [o.record_id for o in out]  # type: ignore[union-attr]


def run(client: httpx.Client, w, **body: Any) -> dict[str, Any]:
    got = client.post(
        JOBS, params={"wait": "true"}, headers=w.headers, json={"entity": "contact", **body}
    )
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "completed"
    return got.json()


def poll(client: httpx.Client, w, job_id: str, until, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{JOBS}/{job_id}", headers=w.headers).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def all_sets(client: httpx.Client, w, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(
            SETS, headers=w.headers, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        out.extend(page.json()["data"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return out


def test_job_in_the_request_and_the_review_queue(client: httpx.Client, workspace, live_server):
    w = workspace(credits=0)  # duplicate jobs cost no credits
    load_contacts(live_server, w)
    job = run(client, w, threshold=0.8)
    assert job["entity"] == "contact" and job["method"] == "model" and job["threshold"] == 0.8
    assert job["progress"] == 1.0 and job["stage"] == "done" and job["error"] is None
    assert job["records_scanned"] == 150 and job["sets_found"] > 5 and job["pairs_found"] > 5
    assert job["finished_at"] and job["started_at"]
    assert client.get(f"{JOBS}/{job['id']}", headers=w.headers).json() == job
    listed = client.get(JOBS, headers=w.headers).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]] and listed["next_cursor"] is None

    found = all_sets(client, w, limit=4)
    assert len(found) == job["sets_found"]
    sims = [s["max_similarity"] for s in found]
    assert sims == sorted(sims, reverse=True)
    first = found[0]
    assert first["status"] == "open" and first["job_id"] == job["id"] and first["source"] == "job"
    assert first["size"] == len(first["members"]) >= 2
    assert first["members"][0]["is_primary"] and first["members"][0]["record"] is None

    detail = client.get(f"{SETS}/{first['id']}", headers=w.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert {m["record_id"] for m in body["members"]} == {m["record_id"] for m in first["members"]}
    for member in body["members"]:
        record = member["record"]
        assert record["record_id"] == member["record_id"] and record["entity"] == "contact"
        assert record["data"]["last_name"]
    assert body["pairs"] and body["pairs"][0]["similarity"] == body["max_similarity"]
    for pair in body["pairs"]:
        assert pair["reason"] and pair["matched_fields"] and pair["similarity"] >= 0.8

    # filters
    cut = found[len(found) // 2]["max_similarity"]
    high = all_sets(client, w, min_similarity=cut)
    assert len(high) == sum(s["max_similarity"] >= cut for s in found)
    assert len(all_sets(client, w, job_id=job["id"], entity="contact")) == len(found)
    assert all_sets(client, w, entity="company") == []
    assert all_sets(client, w, status="superseded") == []
    assert len(all_sets(client, w, status="all")) == len(found)


def test_background_job_progress_and_cancel(
    client: httpx.Client, workspace, live_server, monkeypatch
):
    w = workspace()
    load_contacts(live_server, w, n=80)
    reached, release = threading.Event(), threading.Event()
    real_scan = jobs.scan

    def held_scan(frame, specs, **kwargs):
        report = kwargs.pop("progress")

        def progress(stage: str, done: int, total: int) -> None:
            report(stage, done, total)
            if stage == "compare" and not release.is_set():
                reached.set()
                release.wait(20)

        return real_scan(frame, specs, progress=progress, **kwargs)

    monkeypatch.setattr(jobs, "scan", held_scan)
    started = client.post(JOBS, headers=w.headers, json={"entity": "contact"})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert started.json()["status"] in ("queued", "running")
    assert reached.wait(20)
    running = poll(client, w, job_id, lambda j: j["stage"] == "compare")
    assert running["status"] == "running" and 0.2 <= running["progress"] < 1
    assert running["records_scanned"] == 80 and running["heartbeat_at"]
    again = client.post(JOBS, headers=w.headers, json={"entity": "contact"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    cancel = client.post(f"{JOBS}/{job_id}/cancel", headers=w.headers)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "running" and cancel.json()["cancel_requested"]
    release.set()
    done = poll(client, w, job_id, lambda j: j["status"] != "running")
    assert done["status"] == "cancelled" and done["finished_at"] and done["sets_found"] == 0
    assert all_sets(client, w, status="all") == []

    monkeypatch.setattr(jobs, "scan", real_scan)  # a background job to the end
    started = client.post(JOBS, headers=w.headers, json={"entity": "contact"})
    assert started.status_code == 202, started.text
    done = poll(
        client,
        w,
        started.json()["id"],
        lambda j: j["status"] != "running" and j["status"] != "queued",
    )
    assert done["status"] == "completed" and done["sets_found"] > 0


def test_cancel_queued_and_finished_jobs_and_interrupted(
    client: httpx.Client, workspace, live_server
):
    w = workspace()
    with session_scope(live_server.sessions) as s:  # queued, no runner yet
        queued = jobs.create(session=s, workspace_id=w.workspace_id, entity="contact").id
    got = client.post(f"{JOBS}/{queued}/cancel", headers=w.headers)
    assert got.status_code == 200 and got.json()["status"] == "cancelled", got.text
    assert client.post(f"{JOBS}/{queued}/cancel", headers=w.headers).json()["status"] == (
        "cancelled"
    )
    finished = client.post(
        JOBS, params={"wait": "true"}, headers=w.headers, json={"entity": "deal"}
    ).json()
    assert finished["status"] == "completed" and finished["sets_found"] == 0
    late = client.post(f"{JOBS}/{finished['id']}/cancel", headers=w.headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "conflict"

    with session_scope(live_server.sessions) as s:
        dead = jobs.create(session=s, workspace_id=w.workspace_id, entity="lead").id
        s.execute(
            update(DuplicateJob)
            .where(DuplicateJob.id == dead)
            .values(
                status="running",
                started_at=utcnow() - timedelta(minutes=5),
                heartbeat_at=utcnow() - timedelta(seconds=90),
            )
        )
    seen = client.get(f"{JOBS}/{dead}", headers=w.headers).json()
    assert (seen["status"], seen["error"]) == ("failed", "interrupted")
    listed = client.get(JOBS, headers=w.headers, params={"limit": 2}).json()
    assert [j["id"] for j in listed["data"]] == [dead, finished["id"]]
    rest = client.get(JOBS, headers=w.headers, params={"cursor": listed["next_cursor"]}).json()
    assert [j["id"] for j in rest["data"]] == [queued] and rest["next_cursor"] is None
    # the dead job does not block a new one for its entity
    assert client.post(JOBS, headers=w.headers, json={"entity": "lead"}).status_code == 202


def test_not_duplicate_and_rerun(client: httpx.Client, workspace, live_server):
    w = workspace()
    load_contacts(live_server, w)
    first = run(client, w)
    found = all_sets(client, w)
    pair_set = next(s for s in found if s["size"] == 2)
    a, b = sorted(m["record_id"] for m in pair_set["members"])

    marked = client.post(
        f"{SETS}/{pair_set['id']}/not-duplicate", headers=w.headers, json={"record_ids": [b, a]}
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "dismissed" and marked.json()["pairs"] == []
    again = client.post(
        f"{SETS}/{pair_set['id']}/not-duplicate", headers=w.headers, json={"pairs": [[a, b]]}
    )
    assert again.status_code == 200 and again.json()["status"] == "dismissed"
    assert pair_set["id"] not in {s["id"] for s in all_sets(client, w)}
    assert pair_set["id"] in {s["id"] for s in all_sets(client, w, status="dismissed")}

    second = run(client, w)
    assert second["id"] != first["id"]
    new_sets = all_sets(client, w)
    assert new_sets and {s["job_id"] for s in new_sets} == {second["id"]}
    for item in new_sets:
        assert not {a, b} <= {m["record_id"] for m in item["members"]}
    superseded = all_sets(client, w, status="superseded")
    assert len(superseded) == first["sets_found"] - 1
    assert {s["job_id"] for s in superseded} == {first["id"]}


def test_input_checks_scopes_and_workspaces(client: httpx.Client, workspace, live_server):
    w = workspace()
    load_contacts(live_server, w, n=60)
    job = run(client, w)
    set_id = all_sets(client, w)[0]["id"]
    members = [
        m["record_id"] for m in client.get(f"{SETS}/{set_id}", headers=w.headers).json()["members"]
    ]

    def error(response: httpx.Response, status: int, code: str) -> str:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        return str(response.json()["error"]["message"])

    for body, text in (
        ({"entity": "widget"}, "contact, lead, company, deal"),
        ({"entity": "contact", "method": "rule", "matching_rule_id": "r"}, "no matching rule 'r'"),
        ({"entity": "contact", "threshold": 1.5}, "threshold"),
        ({"entity": "contact", "extra": 1}, "extra"),
        ({}, "entity"),
    ):
        message = error(client.post(JOBS, headers=w.headers, json=body), 400, "validation_error")
        assert text in message
    rule = client.post(JOBS, headers=w.headers, json={"entity": "contact", "method": "rule"})
    assert "matching_rule_id: a matching rule" in error(rule, 400, "validation_error")

    for body in (
        {"record_ids": [members[0]]},
        {"record_ids": members[:2], "pairs": [members[:2]]},
        {},
        {"pairs": [[members[0], members[0]]]},
        {"pairs": [[members[0], "not-a-member"]]},
    ):
        got = client.post(f"{SETS}/{set_id}/not-duplicate", headers=w.headers, json=body)
        error(got, 400, "validation_error")
    for params in ({"cursor": "junk"}, {"status": "closed"}, {"min_similarity": 3}, {"limit": 0}):
        error(client.get(SETS, headers=w.headers, params=params), 400, "validation_error")
    error(client.get(JOBS, headers=w.headers, params={"cursor": "junk"}), 400, "validation_error")

    other = workspace(name="Other")
    for response in (
        client.get(f"{JOBS}/{job['id']}", headers=other.headers),
        client.post(f"{JOBS}/{job['id']}/cancel", headers=other.headers),
        client.get(f"{SETS}/{set_id}", headers=other.headers),
        client.post(
            f"{SETS}/{set_id}/not-duplicate",
            headers=other.headers,
            json={"record_ids": members[:2]},
        ),
    ):
        error(response, 404, "not_found")
    assert client.get(SETS, headers=other.headers).json()["data"] == []
    assert client.get(JOBS, headers=other.headers).json()["data"] == []

    reader = workspace(workspace_id=w.workspace_id, scopes=("read",))
    error(
        client.post(JOBS, headers=reader.headers, json={"entity": "contact"}),
        403,
        "insufficient_permissions",
    )
    error(
        client.post(
            f"{SETS}/{set_id}/not-duplicate",
            headers=reader.headers,
            json={"record_ids": members[:2]},
        ),
        403,
        "insufficient_permissions",
    )
    assert client.get(f"{SETS}/{set_id}", headers=reader.headers).status_code == 200


@pytest.mark.parametrize("wait", ["true", "false"])
def test_idempotent_start(client: httpx.Client, workspace, live_server, wait):
    w = workspace()
    key = "6f1c2a59-0a57-4a57-9d0f-4a7cc2f3d8d1"
    first = client.post(
        JOBS,
        params={"wait": wait},
        headers={**w.headers, "Idempotency-Key": key},
        json={"entity": "deal"},
    )
    assert first.status_code in (200, 202), first.text
    replay = client.post(
        JOBS,
        params={"wait": wait},
        headers={**w.headers, "Idempotency-Key": key},
        json={"entity": "deal"},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert len(client.get(JOBS, headers=w.headers).json()["data"]) == 1
