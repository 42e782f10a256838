"""Merges, undo, record links and the audit log over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx

READ_ONLY = ("read",)


def contact(client: httpx.Client, w, data: dict, entity: str = "contact") -> str:
    made = client.post(
        f"/v1/entities/{entity}/records",
        headers=w.headers,
        json={"data": data, "dedup_mode": "off"},
    )
    assert made.status_code == 201, made.text
    return made.json()["record_id"]


def merge(client: httpx.Client, w, primary: str, dups: list[str], **more) -> httpx.Response:
    return client.post(
        "/v1/entities/contact/merges",
        headers={**w.headers, **more.pop("headers", {})},
        json={"primary_id": primary, "duplicate_ids": dups, **more},
    )


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_merge_links_and_undo(client: httpx.Client, workspace) -> None:
    w = workspace()
    primary = contact(client, w, {"first_name": "Jane", "email": "jane@acme.com"})
    dup = contact(client, w, {"first_name": "Janet", "phone": "+14155550100"})
    deal = contact(client, w, {"name": "Renewal"}, entity="deal")
    made = client.post(
        f"/v1/entities/deal/records/{deal}/links",
        headers=w.headers,
        json={"target_id": dup, "label": "contact"},
    )
    assert made.status_code == 201, made.text
    link_id = made.json()["id"]
    assert made.json()["direction"] == "outgoing"
    incoming = client.get(f"/v1/entities/contact/records/{dup}/links", headers=w.headers).json()
    assert [(x["id"], x["direction"]) for x in incoming["data"]] == [(link_id, "incoming")]

    key = str(uuid.uuid4())
    first = merge(
        client, w, primary, [dup], choices={"first_name": dup}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["record"]["data"] == {
        "first_name": "Janet",
        "email": "jane@acme.com",
        "phone": "+14155550100",
    }
    assert body["changes"]["first_name"] == {"old": "Jane", "new": "Janet"}
    assert body["moved"]["links_moved"] == 1 and body["undoable"] is True
    replay = merge(
        client, w, primary, [dup], choices={"first_name": dup}, headers={"Idempotency-Key": key}
    )
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == body
    merge_id = body["id"]

    gone = client.get(f"/v1/entities/contact/records/{dup}", headers=w.headers).json()
    assert gone["merged_into"] == primary and gone["deleted_at"] is not None
    on_primary = client.get(
        f"/v1/entities/contact/records/{primary}/links", headers=w.headers
    ).json()["data"]
    assert [(x["id"], x["record_id"], x["target_id"]) for x in on_primary] == [
        (link_id, deal, primary)
    ]
    shown = client.get(f"/v1/merges/{merge_id}", headers=w.headers).json()
    assert shown["primary_id"] == primary and shown["duplicate_ids"] == [dup]
    listed = client.get("/v1/merges", headers=w.headers).json()
    assert [m["id"] for m in listed["data"]] == [merge_id]

    undone = client.post(f"/v1/merges/{merge_id}/undo", headers=w.headers)
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None and undone.json()["undoable"] is False
    assert undone.json()["record"]["data"] == {"first_name": "Jane", "email": "jane@acme.com"}
    back = client.get(f"/v1/entities/contact/records/{dup}", headers=w.headers).json()
    assert back["deleted_at"] is None and back["merged_into"] is None
    again = client.post(f"/v1/merges/{merge_id}/undo", headers=w.headers)
    assert again.status_code == 409 and error_code(again) == "conflict"
    assert "undone already" in again.json()["error"]["message"]
    incoming = client.get(f"/v1/entities/contact/records/{dup}/links", headers=w.headers).json()
    assert [x["id"] for x in incoming["data"]] == [link_id]
    activity = client.get(
        f"/v1/entities/contact/records/{primary}/activity", headers=w.headers
    ).json()
    assert [a["kind"] for a in activity][:2] == ["unmerged", "merged"]


def test_merge_errors(client: httpx.Client, workspace) -> None:
    w = workspace()
    other = workspace(name="Other")
    ids = [contact(client, w, {"first_name": f"P{i}"}) for i in range(12)]
    foreign = contact(client, other, {"first_name": "X"})
    too_many = merge(client, w, ids[0], ids[1:])
    assert too_many.status_code == 400 and error_code(too_many) == "validation_error"
    itself = merge(client, w, ids[0], [ids[0]])
    assert itself.status_code == 400 and "primary" in itself.json()["error"]["message"]
    stranger = merge(client, w, ids[0], [foreign])
    assert stranger.status_code == 404 and error_code(stranger) == "not_found"
    unknown = str(uuid.uuid4())
    nowhere = merge(client, w, ids[0], [unknown])  # answered alike: nothing leaks
    assert (
        nowhere.json()["error"]["message"].replace(unknown, foreign)
        == (stranger.json()["error"]["message"])
    )
    client.delete(f"/v1/entities/contact/records/{ids[1]}", headers=w.headers)
    deleted = merge(client, w, ids[0], [ids[1]])
    assert deleted.status_code == 409 and error_code(deleted) == "conflict"
    assert merge(client, w, ids[2], [ids[3]]).status_code == 201
    merged = merge(client, w, ids[0], [ids[3]])
    assert merged.status_code == 409 and "merged into" in merged.json()["error"]["message"]
    reader = workspace(workspace_id=w.workspace_id, scopes=READ_ONLY)
    refused = merge(client, reader, ids[4], [ids[5]])
    assert refused.status_code == 403
    assert client.post("/v1/merges/nope/undo", headers=w.headers).status_code == 404
    assert client.get("/v1/merges/nope", headers=other.headers).status_code == 404


def test_link_errors(client: httpx.Client, workspace) -> None:
    w = workspace()
    other = workspace(name="Other")
    a = contact(client, w, {"first_name": "A"})
    b = contact(client, w, {"first_name": "B"})
    foreign = contact(client, other, {"first_name": "X"})

    def link(target: str, source: str = a) -> httpx.Response:
        return client.post(
            f"/v1/entities/contact/records/{source}/links",
            headers=w.headers,
            json={"target_id": target},
        )

    assert link(foreign).status_code == 404
    assert link(a, source=foreign).status_code == 404
    assert link(a).status_code == 400
    made = link(b)
    assert made.status_code == 201
    assert link(b).status_code == 409
    client.delete(f"/v1/entities/contact/records/{b}", headers=w.headers)
    c = contact(client, w, {"first_name": "C"})
    assert link(b, source=c).status_code == 409
    link_id = made.json()["id"]
    assert client.delete(f"/v1/links/{link_id}", headers=other.headers).status_code == 404
    assert client.delete(f"/v1/links/{link_id}", headers=w.headers).status_code == 200
    assert client.delete(f"/v1/links/{link_id}", headers=w.headers).status_code == 404


def test_audit_log_filters_and_pages(client: httpx.Client, workspace) -> None:
    w = workspace()
    other = workspace(name="Other")
    ids = [contact(client, w, {"first_name": f"P{i}"}) for i in range(6)]
    made = [merge(client, w, ids[i], [ids[i + 1]]).json() for i in (0, 2, 4)]
    assert client.post(f"/v1/merges/{made[0]['id']}/undo", headers=w.headers).status_code == 200
    contact(client, other, {"first_name": "Z"})

    def log(**params) -> dict:
        got = client.get("/v1/audit-log", headers=w.headers, params=params)
        assert got.status_code == 200, got.text
        return got.json()

    everything = log()["data"]
    assert [e["kind"] for e in everything] == ["undo", "merge", "merge", "merge"]
    assert everything[0]["details"]["merge_id"] == made[0]["id"]
    assert everything[0]["request_id"] and everything[0]["actor"].startswith("key:")
    assert [e["kind"] for e in log(kind="merge")["data"]] == ["merge"] * 3
    assert len(log(entity="contact")["data"]) == 4 and log(entity="deal")["data"] == []
    about = log(record_id=ids[1])["data"]  # as a matched (duplicate) id
    assert [e["kind"] for e in about] == ["undo", "merge"]
    assert len(log(actor=everything[0]["actor"])["data"]) == 4
    stamp = everything[1]["created_at"]
    assert all(e["created_at"] > stamp for e in log(created_after=stamp)["data"])
    assert all(e["created_at"] < stamp for e in log(created_before=stamp)["data"])

    pages, cursor = [], None
    while True:
        page = log(limit=1, **({"cursor": cursor} if cursor else {}))
        pages.extend(e["id"] for e in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [e["id"] for e in everything]

    for nasty in ("' OR '1'='1", "%", "_", "merge' --", '"; DROP TABLE audit_log; --', "\\"):
        for name in ("kind", "entity", "record_id", "actor", "rule_id"):
            assert log(**{name: nasty})["data"] == [], (name, nasty)
    assert len(log()["data"]) == 4  # the table is still there
    assert client.get("/v1/audit-log", headers=other.headers).json()["data"] == []
    bad = client.get("/v1/audit-log", headers=w.headers, params={"cursor": "junk"})
    assert bad.status_code == 400
