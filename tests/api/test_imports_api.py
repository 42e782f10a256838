"""CSV import over HTTP, on SQLite and PostgreSQL: upload (raw and multipart), mapping,
preview, start (in the request and in the background), resume, rows, the CSV report, bad
files, size limits, scopes and workspaces."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from dupeguard.services import entities
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Import, Record, utcnow


def _upload(client: httpx.Client, w, text: str | bytes, entity: str = "lead", **params):
    content = text.encode() if isinstance(text, str) else text
    return client.post(
        "/v1/imports",
        params={"entity": entity, **params},
        headers={**w.headers, "Content-Type": "text/csv"},
        content=content,
    )


def _keys(live_server, w, *fields: str, entity: str = "lead") -> None:
    with session_scope(live_server.sessions) as s:
        entities.set_match_keys(
            session=s, workspace_id=w.workspace_id, entity=entity, fields=list(fields)
        )


def _ready(client: httpx.Client, w, text: str, mode: str = "skip", **kw) -> str:
    up = _upload(client, w, text, **kw)
    assert up.status_code == 201, up.text
    iid = up.json()["id"]
    mapped = client.put(
        f"/v1/imports/{iid}/mapping",
        headers=w.headers,
        json={"mapping": up.json()["mapping"], "dedup_mode": mode},
    )
    assert mapped.status_code == 200, mapped.text
    return iid


def test_upload_map_preview_start_report(client: httpx.Client, workspace, live_server) -> None:
    w = workspace()
    stored = client.post(
        "/v1/entities/lead/records",
        headers=w.headers,
        json={"data": {"email": "ann@x.com", "first_name": "Ann", "status": "new"}},
    ).json()["record_id"]
    _keys(live_server, w, "email")
    up = _upload(
        client,
        w,
        "E-mail;First Name;Status;Notes\n"
        "ANN@x.com;Annie;won;x\n"
        "bo@x.com;Bo;;\n"
        "bo@x.com;Bob;;\n"
        "cy@x.com;Cy;;=cmd\n",
        filename="../../secret/leads.csv",
    )
    assert up.status_code == 201, up.text
    body = up.json()
    assert body["status"] == "uploaded" and body["filename"] == "leads.csv"
    assert body["columns"] == ["E-mail", "First Name", "Status", "Notes"]
    assert body["row_count"] == 4 and body["entity"] == "lead"
    assert body["mapping"] == {"E-mail": "email", "First Name": "first_name", "Status": "status"}
    iid = body["id"]

    not_yet = client.post(f"/v1/imports/{iid}/start", headers=w.headers)
    assert not_yet.status_code == 409 and not_yet.json()["error"]["code"] == "conflict"
    bad = client.put(
        f"/v1/imports/{iid}/mapping",
        headers=w.headers,
        json={"mapping": {"E-mail": "nope"}, "dedup_mode": "skip"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    mapped = client.put(
        f"/v1/imports/{iid}/mapping",
        headers=w.headers,
        json={"mapping": {**body["mapping"], "Notes": None}, "dedup_mode": "update"},
    )
    assert mapped.status_code == 200 and mapped.json()["status"] == "mapped"

    preview = client.post(f"/v1/imports/{iid}/preview", headers=w.headers)
    assert preview.status_code == 200, preview.text
    counts = {"created": 2, "updated": 2, "skipped": 0, "conflict": 0, "blocked": 0, "error": 0}
    assert preview.json()["counts"] == counts and preview.json()["row_count"] == 4
    rows = preview.json()["data"]
    assert rows[0]["decision"] == "updated" and rows[0]["record_id"] == stored
    assert rows[2]["matched_rows"] == [2] and rows[2]["changed_fields"] == ["first_name"]
    with session_scope(live_server.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 1
    page = client.post(
        f"/v1/imports/{iid}/preview?decision=created&limit=1", headers=w.headers
    ).json()
    assert [r["row_number"] for r in page["data"]] == [2] and page["next_cursor"] == "2"
    assert client.get(f"/v1/imports/{iid}", headers=w.headers).json()["status"] == "previewed"

    done = client.post(f"/v1/imports/{iid}/start?wait=true", headers=w.headers)
    assert done.status_code == 200, done.text
    final = done.json()
    assert final["status"] == "completed" and final["counts"] == counts
    assert final["processed_rows"] == 4 and final["progress"] == 1.0 and final["finished_at"]
    again = client.post(f"/v1/imports/{iid}/start", headers=w.headers)
    assert again.status_code == 409

    record = client.get(f"/v1/entities/lead/records/{stored}", headers=w.headers).json()
    assert record["data"] == {"email": "ann@x.com", "first_name": "Annie", "status": "new"}

    listed = client.get(f"/v1/imports/{iid}/rows", headers=w.headers).json()["data"]
    assert [r["decision"] for r in listed] == ["updated", "created", "updated", "created"]
    created = client.get(
        f"/v1/imports/{iid}/rows", params={"decision": "created", "limit": 1}, headers=w.headers
    ).json()
    assert [r["row_number"] for r in created["data"]] == [2]
    rest = client.get(
        f"/v1/imports/{iid}/rows",
        params={"decision": "created", "cursor": created["next_cursor"]},
        headers=w.headers,
    ).json()
    assert [r["row_number"] for r in rest["data"]] == [4] and rest["next_cursor"] is None

    report = client.get(f"/v1/imports/{iid}/report.csv", headers=w.headers)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(report.text)))
    assert [r["decision"] for r in table] == ["updated", "created", "updated", "created"]
    assert table[0]["record_id"] == stored and table[0]["matched_ids"] == stored
    assert table[0]["matched_by"] == "email" and table[0]["changed_fields"] == "first_name"
    assert table[2]["record_id"] == table[1]["record_id"]

    listing = client.get("/v1/imports", headers=w.headers).json()
    assert [i["id"] for i in listing["data"]] == [iid]


def test_multipart_upload(client: httpx.Client, workspace) -> None:
    w = workspace()
    up = client.post(
        "/v1/imports",
        headers=w.headers,
        data={"entity": "contact"},
        files={"file": ("C:\\Users\\me\\contacts.csv", b"email,phone\na@x.com,555\n", "text/csv")},
    )
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == "contacts.csv" and up.json()["entity"] == "contact"
    assert up.json()["mapping"] == {"email": "email", "phone": "phone"}
    missing = client.post(
        "/v1/imports", headers=w.headers, data={"entity": "contact"}, files={"other": b"x"}
    )
    assert missing.status_code == 400 and "multipart part named file" in missing.text


def test_background_start_and_progress(client: httpx.Client, workspace, live_server) -> None:
    w = workspace()
    _keys(live_server, w, "email")
    text = "email\n" + "".join(f"u{i % 1500}@x.com\n" for i in range(2500))
    iid = _ready(client, w, text)
    started = client.post(f"/v1/imports/{iid}/start", headers=w.headers)
    assert started.status_code == 202 and started.json()["status"] in ("running", "completed")
    deadline = time.monotonic() + 60
    while (state := client.get(f"/v1/imports/{iid}", headers=w.headers).json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert state["status"] == "completed", state
    assert state["counts"] == {
        "created": 1500,
        "updated": 0,
        "skipped": 1000,
        "conflict": 0,
        "blocked": 0,
        "error": 0,
    }


def test_an_interrupted_import_is_resumed(client: httpx.Client, workspace, live_server) -> None:
    w = workspace()
    iid = _ready(client, w, "email\na@x.com\nb@x.com\n")
    refused = client.post(f"/v1/imports/{iid}/resume", headers=w.headers)
    assert refused.status_code == 409 and "mapped" in refused.json()["error"]["message"]
    with session_scope(live_server.sessions) as s:  # as a server killed right after start
        s.execute(
            update(Import)
            .where(Import.id == iid)
            .values(status="running", heartbeat_at=utcnow() - timedelta(minutes=5))
        )
    state = client.get(f"/v1/imports/{iid}", headers=w.headers).json()
    assert state["status"] == "interrupted"
    again = client.post(f"/v1/imports/{iid}/start", headers=w.headers)
    assert again.status_code == 409 and "/resume" in again.json()["error"]["message"]
    resumed = client.post(f"/v1/imports/{iid}/resume?wait=true", headers=w.headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "completed"
    assert resumed.json()["counts"]["created"] == 2


def test_bad_files_are_refused_with_the_line(client: httpx.Client, workspace) -> None:
    w = workspace()
    cases = [
        (b"", None, "empty"),
        (b"email,name\na@x.com,\xff\n", 2, "not UTF-8"),
        (b"email,name\na@x.com\n", 2, "1 fields, but the header has 2"),
        (b"email,email\na,b\n", 1, "appears twice"),
        (b"email,\na,b\n", 1, "has no name"),
        (b"a@x.com,Ann\n", 1, "looks like data"),
    ]
    for content, line, message in cases:
        answer = _upload(client, w, content)
        assert answer.status_code == 400, (content, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_error" and message in error["message"]
        assert error["details"].get("line") == line
    assert _upload(client, w, "\ufeffemail\na@x.com\n").status_code == 201  # a BOM is fine
    unknown = _upload(client, w, "email\na@x.com\n", entity="ghost")
    assert unknown.status_code == 404
    nameless = client.post(
        "/v1/imports", headers={**w.headers, "Content-Type": "text/csv"}, content=b"email\na\n"
    )
    assert nameless.status_code == 400 and nameless.json()["error"]["details"]["field"] == "entity"
    assert len(client.get("/v1/imports", headers=w.headers).json()["data"]) == 1


def test_size_limits(client: httpx.Client, workspace, live_server) -> None:
    w = workspace()
    rows = 11 * 1024 * 1024 // 20 + 1  # past the app-wide 10 MiB body limit
    big = "email\n" + "".join(f"u{i:09d}@example.com\n" for i in range(rows))
    assert len(big) > live_server.app.state.max_body_size
    up = _upload(client, w, big)
    assert up.status_code == 201, up.text[:500]
    assert up.json()["row_count"] == rows
    other = client.post(
        "/v1/entities/lead/records",
        headers={**w.headers, "Content-Type": "application/json"},
        content=b" " * (live_server.app.state.max_body_size + 1),
    )
    assert other.status_code == 413  # other paths keep the app-wide limit

    live_server.app.state.import_max_bytes = 100
    too_big = _upload(client, w, "email\n" + "a@x.com\n" * 20)
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert too_big.json()["error"]["details"] == {"max_bytes": 100}


def test_scopes_and_workspaces(client: httpx.Client, workspace) -> None:
    w = workspace()
    iid = _ready(client, w, "email\na@x.com\n")
    reader = workspace(workspace_id=w.workspace_id, scopes=("read",))
    assert client.get(f"/v1/imports/{iid}", headers=reader.headers).status_code == 200
    denied = _upload(client, reader, "email\na@x.com\n")
    assert denied.status_code == 403
    assert client.post(f"/v1/imports/{iid}/start", headers=reader.headers).status_code == 403
    stranger = workspace()
    for method, path in [
        ("GET", f"/v1/imports/{iid}"),
        ("GET", f"/v1/imports/{iid}/rows"),
        ("GET", f"/v1/imports/{iid}/report.csv"),
        ("POST", f"/v1/imports/{iid}/preview"),
        ("POST", f"/v1/imports/{iid}/start"),
        ("POST", f"/v1/imports/{iid}/resume"),
    ]:
        answer = client.request(method, path, headers=stranger.headers)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    moved = client.put(
        f"/v1/imports/{iid}/mapping",
        headers=stranger.headers,
        json={"mapping": {"email": "email"}},
    )
    assert moved.status_code == 404
    assert client.get("/v1/imports", headers=stranger.headers).json()["data"] == []
    assert client.get(f"/v1/imports/{iid}", headers=w.headers).json()["status"] == "mapped"


def test_openapi_documents_the_upload(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/imports"]["post"]["requestBody"]["content"]
    assert {"text/csv", "multipart/form-data"} <= set(body)
    assert "413" in spec["paths"]["/v1/imports"]["post"]["responses"]
