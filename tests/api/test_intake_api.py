"""Fields, match keys and API intake (seed 001) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from dupeguard.services import crypto

ADMIN = ("read", "write", "admin")
KEY = crypto.new_key()


def post(client: httpx.Client, w, data: dict, mode: str | None = None, entity: str = "lead"):
    body: dict = {"data": data}
    if mode is not None:
        body["dedup_mode"] = mode
    return client.post(f"/v1/entities/{entity}/records", headers=w.headers, json=body)


@pytest.mark.live_server(encryption_key=KEY)
def test_fields_list_eligibility_and_custom_fields(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    fields = client.get("/v1/entities/lead/fields", headers=w.headers).json()
    email = next(f for f in fields if f["name"] == "email")
    assert email["type"] == "email" and email["match_key_eligible"] is True
    for type_, reason in [
        ("multi_select", "array"),
        ("location", "address"),
        ("boolean", "boolean"),
        ("file", "file"),
    ]:
        made = client.post(
            "/v1/entities/lead/fields",
            headers=w.headers,
            json={"name": f"f_{type_}", "type": type_},
        )
        assert made.status_code == 201, made.text
        assert made.json()["match_key_eligible"] is False
        refused = client.patch(
            f"/v1/entities/lead/fields/f_{type_}", headers=w.headers, json={"match_key": True}
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "validation_error" and reason in error["message"]
        assert error["details"]["reason"]
    secret = client.post(
        "/v1/entities/lead/fields",
        headers=w.headers,
        json={"name": "ssn", "type": "text", "encrypted": True},
    ).json()
    assert "ciphertext" in secret["match_key_ineligible_reason"]
    assert (
        client.patch(
            "/v1/entities/lead/fields/ssn", headers=w.headers, json={"match_key": True}
        ).status_code
        == 400
    )
    bad_type = client.post(
        "/v1/entities/lead/fields", headers=w.headers, json={"name": "x", "type": "blob"}
    )
    assert bad_type.status_code == 400 and "type" in bad_type.json()["error"]["message"]
    twice = client.post(
        "/v1/entities/lead/fields", headers=w.headers, json={"name": "ssn", "type": "text"}
    )
    assert twice.status_code == 409
    assert client.get("/v1/entities/vendor/fields", headers=w.headers).status_code == 404


def test_match_keys_toggle_and_priority(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    for name in ("email", "external_id"):
        on = client.patch(
            f"/v1/entities/lead/fields/{name}", headers=w.headers, json={"match_key": True}
        )
        assert on.status_code == 200 and on.json()["match_key"] is True
    keys = client.get("/v1/entities/lead/match-keys", headers=w.headers).json()
    assert keys == {"fields": ["email", "external_id"]}
    reordered = client.put(
        "/v1/entities/lead/match-keys", headers=w.headers, json={"fields": ["external_id", "email"]}
    )
    assert reordered.json() == {"fields": ["external_id", "email"]}
    listed = {
        f["name"]: f for f in client.get("/v1/entities/lead/fields", headers=w.headers).json()
    }
    assert listed["external_id"]["match_key_priority"] == 1
    assert listed["email"]["match_key_priority"] == 2
    off = client.patch(
        "/v1/entities/lead/fields/external_id", headers=w.headers, json={"match_key": False}
    )
    assert off.json()["match_key_priority"] is None
    assert client.get("/v1/entities/lead/match-keys", headers=w.headers).json() == {
        "fields": ["email"]
    }
    entities = {e["name"]: e for e in client.get("/v1/entities", headers=w.headers).json()}
    assert entities["lead"]["match_keys"] == ["email"]
    for bad in (["email", "email"], ["nope"], ["email", 3]):
        assert client.put(
            "/v1/entities/lead/match-keys", headers=w.headers, json={"fields": bad}
        ).status_code in (400, 404)
    writer = workspace(workspace_id=w.workspace_id, scopes=("read", "write"))
    denied = client.put("/v1/entities/lead/match-keys", headers=writer.headers, json={"fields": []})
    assert denied.status_code == 403


def test_api_intake_decisions_and_lead_id(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    client.put("/v1/entities/lead/match-keys", headers=w.headers, json={"fields": ["email"]})
    created = post(client, w, {"email": "jane@acme.com", "first_name": "Jane"})
    assert created.status_code == 201
    body = created.json()
    assert body["decision"] == "created" and body["lead_id"] == body["record_id"]
    skipped = post(client, w, {"email": "JANE@acme.com", "first_name": "J"})
    assert skipped.status_code == 200
    assert skipped.json()["decision"] == "skipped" and skipped.json()["lead_id"] == body["lead_id"]
    assert skipped.json()["matched_by"] == "email"
    updated = post(client, w, {"email": "jane@acme.com", "first_name": "Janet"}, "update").json()
    assert updated["decision"] == "updated" and updated["changed_fields"] == ["first_name"]
    assert updated["record"]["data"]["first_name"] == "Janet"
    assert post(client, w, {"email": "jane@acme.com"}, "off").json()["decision"] == "created"
    conflict = post(client, w, {"email": "jane@acme.com", "first_name": "X"}, "update")
    assert conflict.status_code == 200
    payload = conflict.json()
    assert payload["decision"] == "conflict" and payload["lead_id"] is None
    assert len(payload["matches"]) == 2 and payload["record"] is None
    bad_mode = post(client, w, {"email": "x@y.com"}, "merge")
    assert bad_mode.status_code == 400 and "dedup_mode" in bad_mode.json()["error"]["message"]
    unknown = post(client, w, {"nickname": "JJ"})
    assert unknown.status_code == 400 and "nickname" in unknown.json()["error"]["message"]
    feed = client.get(
        f"/v1/entities/lead/records/{body['record_id']}/activity", headers=w.headers
    ).json()
    assert [a["kind"] for a in feed] == ["updated", "created"]
    assert feed[0]["changes"] == {"first_name": {"old": "Jane", "new": "Janet"}}


def test_bulk_intake_decides_rows_in_order(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    client.put("/v1/entities/contact/match-keys", headers=w.headers, json={"fields": ["email"]})
    rows = [
        {"data": {"email": "a@x.com", "first_name": "A"}},
        {"data": {"email": "A@x.com", "first_name": "Ann"}},
        {"data": {"email": "b@x.com", "score": 3}},
        "not a row",
        {"data": {"email": "c@x.com"}},
    ]
    response = client.post(
        "/v1/entities/contact/records/bulk",
        headers=w.headers,
        json={"records": rows, "dedup_mode": "update"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "updated", "error", "error", "created"]
    assert results[1]["record_id"] == results[0]["record_id"]
    assert results[1]["changed_fields"] == ["first_name"]
    assert results[2]["error"]["code"] == "validation_error"
    listing = client.get("/v1/entities/contact/records", headers=w.headers).json()["data"]
    assert len(listing) == 2


def test_edit_keeps_the_key_index_current(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    client.put("/v1/entities/lead/match-keys", headers=w.headers, json={"fields": ["email"]})
    rid = post(client, w, {"email": "old@x.com"}).json()["record_id"]
    patched = client.patch(
        f"/v1/entities/lead/records/{rid}", headers=w.headers, json={"data": {"email": "new@x.com"}}
    )
    assert patched.status_code == 200
    assert post(client, w, {"email": "old@x.com"}).json()["decision"] == "created"
    assert post(client, w, {"email": "new@x.com"}).json()["record_id"] == rid
    feed = client.get(f"/v1/entities/lead/records/{rid}/activity", headers=w.headers).json()
    assert feed[0]["changes"] == {"email": {"old": "old@x.com", "new": "new@x.com"}}


def test_concurrent_api_intakes_create_one_record(
    client: httpx.Client, workspace, live_server
) -> None:
    w = workspace(scopes=ADMIN)
    client.put("/v1/entities/lead/match-keys", headers=w.headers, json={"fields": ["email"]})
    n = 8
    barrier = threading.Barrier(n)
    statuses: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as own:
            barrier.wait()
            statuses.append(post(own, w, {"email": "race@x.com"}).json()["decision"])

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert Counter(statuses) == {"created": 1, "skipped": n - 1}


@pytest.mark.live_server(encryption_key=KEY)
def test_encrypted_fields_read_back_as_plaintext(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=("read", "write", "admin"))
    made = client.post(
        "/v1/entities/contact/fields",
        headers=w.headers,
        json={"name": "ssn", "type": "text", "encrypted": True},
    )
    assert made.status_code == 201
    body = client.post(
        "/v1/entities/contact/records", headers=w.headers, json={"data": {"ssn": "987"}}
    ).json()
    assert body["record"]["data"] == {"ssn": "987"}
    got = client.get(f"/v1/entities/contact/records/{body['record_id']}", headers=w.headers)
    assert got.json()["data"] == {"ssn": "987"}
    listed = client.get("/v1/entities/contact/records", headers=w.headers).json()["data"]
    assert listed[0]["data"] == {"ssn": "987"}


def test_upsert_by_external_id(client: httpx.Client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    url = "/v1/entities/lead/records/by/external_id/CRM-1"
    created = client.put(url, headers=w.headers, json={"data": {"email": "a@x.com"}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["decision"] == "created" and body["matched_by"] == "external_id"
    assert body["record"]["data"] == {"email": "a@x.com", "external_id": "CRM-1"}
    rid = body["record_id"]
    same = client.put(
        "/v1/entities/lead/records/by/external_id/crm-1",  # compared normalised
        headers=w.headers,
        json={"data": {"email": "a@x.com"}},
    )
    assert same.status_code == 200 and same.json()["decision"] == "skipped"
    updated = client.put(url, headers=w.headers, json={"data": {"city": "Rome", "email": None}})
    assert updated.json()["decision"] == "updated" and updated.json()["record_id"] == rid
    assert updated.json()["changed_fields"] == ["city", "email"]
    assert updated.json()["record"]["data"] == {"external_id": "CRM-1", "city": "Rome"}
    # the same value on two records (made with dedup off): a clear conflict listing both
    client.post(
        "/v1/entities/lead/records",
        headers=w.headers,
        json={"data": {"external_id": "CRM-1"}, "dedup_mode": "off"},
    )
    both = client.put(url, headers=w.headers, json={"data": {"city": "Oslo"}})
    assert both.status_code == 409 and both.json()["error"]["code"] == "conflict"
    assert rid in both.json()["error"]["details"]["matches"]
    assert len(both.json()["error"]["details"]["matches"]) == 2
    for bad_url, status in [
        ("/v1/entities/lead/records/by/nope/1", 404),
        ("/v1/entities/lead/records/by/email/not-an-email", 400),
        ("/v1/entities/vendor/records/by/external_id/1", 404),
    ]:
        assert client.put(bad_url, headers=w.headers, json={"data": {}}).status_code == status


def test_concurrent_upserts_insert_once(client: httpx.Client, workspace, live_server) -> None:
    w = workspace(scopes=ADMIN)
    client.put("/v1/entities/lead/match-keys", headers=w.headers, json={"fields": ["external_id"]})
    n = 6
    barrier = threading.Barrier(n)
    decisions: list[str] = []

    def worker(i: int) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as own:
            barrier.wait()
            answer = own.put(
                "/v1/entities/lead/records/by/external_id/X-9",
                headers=w.headers,
                json={"data": {"city": f"C{i}"}},
            )
            decisions.append(answer.json()["decision"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert decisions.count("created") == 1 and len(decisions) == n
    listing = client.get("/v1/entities/lead/records", headers=w.headers).json()["data"]
    assert len(listing) == 1
