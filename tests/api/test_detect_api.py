"""POST /v1/ai/detect-duplicates exactly as seed 000, over HTTP on both databases."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

PEOPLE = [
    {
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@gmail.com",
        "phone": "555-123-4567",
        "company": "Acme Corp",
    },
    {
        "first_name": "Jon",
        "last_name": "Smith",
        "email": "JohnSmith@googlemail.com",
        "phone": "(555) 123 4567",
        "company": "Acme Corporation",
    },
] + [
    {"first_name": f"P{i}", "last_name": f"Family{i}", "email": f"p{i}@example{i}.com"}
    for i in range(30)
]


def load(client: httpx.Client, w) -> list[str]:
    response = client.post(
        "/v1/entities/contact/records/bulk",
        headers=w.headers,
        json={"records": [{"data": p, "tags": ["crm"]} for p in PEOPLE]},
    )
    return [r["record_id"] for r in response.json()["results"]]


def detect(client: httpx.Client, w, body: dict, **headers: str) -> httpx.Response:
    return client.post("/v1/ai/detect-duplicates", headers={**w.headers, **headers}, json=body)


def test_response_shape_and_credits(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=("write", "write:ai"), credits=10)
    ids = load(client, w)
    response = detect(client, w, {"entity_type": "contact", "threshold": 0.9})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"pairs", "total_candidates", "credits_remaining"}
    assert data["total_candidates"] == len(PEOPLE) and data["credits_remaining"] == 7
    (pair,) = data["pairs"]
    assert {pair["primary_id"], pair["duplicate_id"]} == set(ids[:2])
    assert set(pair) == {"primary_id", "duplicate_id", "similarity", "matched_fields", "reason"}
    assert 0.9 <= pair["similarity"] <= 1 and "email" in pair["matched_fields"]
    for header in (
        "X-Request-ID",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ):
        assert header in response.headers
    scoped = detect(client, w, {"entity_type": "contact", "scope": {"tag": "nope"}}).json()
    assert scoped["data"]["total_candidates"] == 0 and scoped["data"]["pairs"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "entity_type"),
        ({"entity_type": "planet"}, "entity_type"),
        ({"entity_type": "lead"}, "entity_type"),
        ({"entity_type": "contact", "threshold": 1.5}, "threshold"),
        ({"entity_type": "contact", "threshold": -0.1}, "threshold"),
        ({"entity_type": "contact", "threshold": "high"}, "threshold"),
        ({"entity_type": "contact", "limit": 0}, "limit"),
        ({"entity_type": "contact", "limit": 1001}, "limit"),
        ({"entity_type": "contact", "scope": {"created_after": "yesterday"}}, "created_after"),
        ({"entity_type": "contact", "scope": {"colour": "red"}}, "colour"),
        ({"entity_type": "contact", "extra": 1}, "extra"),
    ],
)
def test_validation_errors(client: httpx.Client, workspace, body: dict, field: str) -> None:
    w = workspace(scopes=("write:ai",))
    response = detect(client, w, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"]
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
    assert (
        client.get(
            "/v1/workspace",
            headers=workspace(workspace_id=w.workspace_id, scopes=("read",)).headers,
        ).json()["data"]["credits"]
        == 100
    )  # nothing charged


def test_auth_errors(client: httpx.Client, workspace) -> None:
    body = {"entity_type": "contact"}
    assert client.post("/v1/ai/detect-duplicates", json=body).json()["error"]["code"] == (
        "invalid_key"
    )
    bad = client.post(
        "/v1/ai/detect-duplicates", json=body, headers={"Authorization": "Bearer wbk_nope"}
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_key"
    reader = workspace(scopes=("read", "write"))
    denied = detect(client, reader, body)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "insufficient_permissions"


def test_insufficient_credits_charges_nothing(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=("read", "write", "write:ai"), credits=4)
    load(client, w)
    assert detect(client, w, {"entity_type": "contact"}).status_code == 200  # 4 → 1
    broke = detect(client, w, {"entity_type": "contact"})
    assert broke.status_code == 402 and broke.json()["error"]["code"] == "insufficient_credits"
    assert client.get("/v1/workspace", headers=w.headers).json()["data"]["credits"] == 1


def test_idempotency_replay_conflict_and_concurrency(
    client: httpx.Client, workspace, live_server
) -> None:
    w = workspace(scopes=("read", "write", "write:ai"), credits=30)
    load(client, w)
    key = str(uuid.uuid4())
    body = {"entity_type": "contact", "threshold": 0.9}
    first = detect(client, w, body, **{"Idempotency-Key": key})
    again = detect(client, w, body, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert client.get("/v1/workspace", headers=w.headers).json()["data"]["credits"] == 27
    conflict = detect(client, w, {**body, "threshold": 0.5}, **{"Idempotency-Key": key})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    bad_key = detect(client, w, body, **{"Idempotency-Key": "not-a-uuid"})
    assert bad_key.status_code == 400

    shared = str(uuid.uuid4())
    answers: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as own:
            answers.append(detect(own, w, body, **{"Idempotency-Key": shared}))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.text for a in answers}) == 1
    # four concurrent calls with one key: one scan, one charge
    assert client.get("/v1/workspace", headers=w.headers).json()["data"]["credits"] == 24


def test_another_workspace_sees_nothing(client: httpx.Client, workspace) -> None:
    a = workspace(scopes=("write", "write:ai"))
    load(client, a)
    b = workspace(scopes=("write:ai",))
    data = detect(client, b, {"entity_type": "contact"}).json()["data"]
    assert data["total_candidates"] == 0 and data["pairs"] == []
