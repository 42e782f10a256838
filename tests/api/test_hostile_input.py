"""Hostile input over HTTP, on SQLite and PostgreSQL: oversized and endless bodies, deeply
nested JSON, awkward Unicode (NUL, right-to-left and combining marks, 1 MB strings), SQL
metacharacters in every filter and cursor, path traversal in upload names, and CSV formula
injection in the import report. None of it may give a 5xx, a traceback or half-written state.
(Webhook SSRF: tests/services/test_ssrf.py; scan CSV output and the fuzzed normalisers:
tests/core/test_fuzz_normalisers.py.)
"""

from __future__ import annotations

import csv
import io
import socket
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dupeguard.store.session import session_scope
from dupeguard.store.tables import Record

from .conftest import LiveServer

ADMIN = ("read", "write", "write:ai", "admin")
RISKY = ("=", "+", "-", "@", "\t", "\r")


def _records(live: LiveServer) -> int:
    with session_scope(live.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(Record)) or 0)


def _contact(client: httpx.Client, w: Any, **data: Any) -> httpx.Response:
    return client.post("/v1/entities/contact/records", headers=w.headers, json={"data": data})


# --- sizes ----------------------------------------------------------------------------------


def _raw_exchange(live: LiveServer, head: bytes, body: bytes = b"", timeout: float = 5) -> bytes:
    """Send ``head`` and ``body`` on a raw socket and read what the server answers (without
    ever finishing the body), so the test sees whether it answered before reading it all."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and b"}" in data:
                break
        return b"".join(chunks)


@pytest.mark.live_server(max_body_size=4096)
def test_a_declared_oversized_body_is_refused_before_it_is_sent(live_server, workspace) -> None:
    w = workspace()
    head = (
        "POST /v1/entities/contact/records HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {w.api_key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    ).encode()
    answer = _raw_exchange(live_server, head)  # not one byte of the body is sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer


@pytest.mark.live_server(max_body_size=4096)
def test_a_chunked_body_is_cut_off_at_the_limit(live_server, workspace) -> None:
    """No Content-Length: the server counts as it reads and answers 413 once past the
    limit, while the client is still sending (the body never ends here)."""
    w = workspace()
    head = (
        "POST /v1/entities/contact/records HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {w.api_key}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b'{"data": {"notes": "' + b"x" * 8000
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"  # no terminating 0-chunk
    answer = _raw_exchange(live_server, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _records(live_server) == 0


def test_a_declared_oversized_csv_upload_is_refused_at_once(live_server, workspace) -> None:
    w = workspace()
    head = (
        "POST /v1/imports?entity=contact HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {w.api_key}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {live_server.app.state.import_max_bytes + 1}\r\n\r\n"
    ).encode()
    answer = _raw_exchange(live_server, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.live_server(max_body_size=4096)
def test_a_public_form_submission_has_the_same_limit(client, workspace) -> None:
    answer = client.post(
        "/v1/forms/any/submissions",
        content=b"{" + b" " * 10_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413


# --- JSON shape -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_deeply_nested_json_is_a_clear_4xx(client, workspace, live_server, depth: int) -> None:
    w = workspace()
    nested = "[" * depth + "]" * depth
    body = '{"data": {"first_name": "Ann", "notes": ' + nested + "}}"
    answer = client.post(
        "/v1/entities/contact/records",
        headers={**w.headers, "Content-Type": "application/json"},
        content=body,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error"]["code"] == "validation_error"
    assert _records(live_server) == 0


def test_deep_json_in_bulk_and_rules_is_a_clear_4xx(client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    nested = "{" + '"a":{' * 3000 + "}" * 3001
    for path in (
        "/v1/entities/contact/records/bulk",
        "/v1/entities/contact/matching-rules",
        "/v1/forms",
        "/v1/ai/detect-duplicates",
    ):
        answer = client.post(
            path, headers={**w.headers, "Content-Type": "application/json"}, content=nested
        )
        assert answer.status_code == 400, (path, answer.text[:300])


# --- Unicode --------------------------------------------------------------------------------

RTL = "\u202eevil\u202c \u200fשלום\u200f"
COMBINING = "Ze\u0301\u0301\u0301phyr Z\u0336a\u0337l\u0338g\u0335o"


def test_nul_is_refused_with_a_clear_validation_error_everywhere(
    client, workspace, live_server
) -> None:
    """PostgreSQL cannot store NUL in text or JSON: it is refused on every path (both
    databases alike), naming the field, and nothing is written."""
    w = workspace(scopes=ADMIN)
    h = w.headers
    created = _contact(client, w, first_name="Ann", email="ann@example.com").json()
    rid = created["record_id"]
    calls = [
        ("POST", "/v1/entities/contact/records", {"data": {"first_name": "A\x00n"}}),
        (
            "POST",
            "/v1/entities/contact/records",
            {"data": {"first_name": "Ann"}, "tags": ["t\x00"]},
        ),
        ("PATCH", f"/v1/entities/contact/records/{rid}", {"data": {"last_name": "L\x00e"}}),
        (
            "POST",
            "/v1/entities/contact/records/bulk",
            {"records": [{"data": {"first_name": "x\x00"}}]},
        ),
        ("PUT", "/v1/entities/contact/records/by/email/a%00b@x.com", {"data": {}}),
        ("POST", "/v1/entities", {"name": "thing", "label": "T\x00"}),
        ("POST", "/v1/lists", {"name": "l\x00"}),
        (
            "POST",
            "/v1/entities/contact/matching-rules",
            {"name": "R\x00", "conditions": [{"field": "email", "method": "email"}]},
        ),
        (
            "POST",
            "/v1/forms",
            {"name": "F\x00", "entity": "lead", "fields": [{"field": "email"}]},
        ),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, headers=h, json=body)
        ok_status = 200 if method == "POST" and path.endswith("/bulk") else 400
        assert answer.status_code in (ok_status, 400), (path, answer.status_code, answer.text)
        if answer.status_code == 400:
            error = answer.json()["error"]
            assert error["code"] == "validation_error", (path, answer.text)
            assert "NUL" in error["message"], (path, answer.text)
        else:  # bulk: the row fails, the batch goes on
            assert answer.json()["results"][0]["status"] == "error", answer.text
    assert _records(live_server) == 1
    stored = client.get(f"/v1/entities/contact/records/{rid}", headers=h).json()
    assert stored["data"] == {"first_name": "Ann", "email": "ann@example.com"}


def test_nul_in_a_form_submission_and_a_csv_upload(client, workspace, live_server) -> None:
    w = workspace(scopes=ADMIN)
    form = client.post(
        "/v1/forms",
        headers=w.headers,
        json={"name": "Signup", "entity": "lead", "fields": [{"field": "email"}]},
    ).json()
    answer = client.post(
        form["submit_url"].removeprefix(client.base_url.__str__().rstrip("/")),
        headers={"X-Form-Token": form["token"]},
        json={"data": {"email": "a\x00@x.com"}},
    )
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]["message"], answer.text
    upload = client.post(
        "/v1/imports",
        params={"entity": "contact"},
        headers={**w.headers, "Content-Type": "text/csv"},
        content=b"first_name,email\nA\x00n,a@x.com\n",
    )
    assert upload.status_code == 400, upload.text
    assert upload.json()["error"]["code"] == "validation_error"
    assert _records(live_server) == 0


@pytest.mark.parametrize("value", [RTL, COMBINING, "🙂‍↔️ 👩🏽‍💻", "\ufeffBOM", "x" * 1_000_000])
def test_unicode_edge_cases_round_trip(client, workspace, value: str) -> None:
    w = workspace()
    answer = _contact(client, w, first_name=value, notes=value)
    assert answer.status_code in (201, 400, 413), answer.text[:300]
    if answer.status_code == 201:
        rid = answer.json()["record_id"]
        got = client.get(f"/v1/entities/contact/records/{rid}", headers=w.headers).json()
        assert got["data"]["first_name"] == value and got["data"]["notes"] == value
        again = _contact(client, w, first_name=value, notes=value)
        assert again.status_code in (200, 201), again.text[:300]
    else:
        assert answer.json()["error"]["code"] in ("validation_error", "payload_too_large")


def test_unicode_in_rule_names_and_form_fields(client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    rule = client.post(
        "/v1/entities/contact/matching-rules",
        headers=w.headers,
        json={"name": RTL, "conditions": [{"field": "email", "method": "email"}]},
    )
    assert rule.status_code == 201, rule.text
    assert (
        client.get(
            f"/v1/entities/contact/matching-rules/{rule.json()['id']}", headers=w.headers
        ).json()["name"]
        == RTL
    )
    form = client.post(
        "/v1/forms",
        headers=w.headers,
        json={"name": COMBINING, "entity": "lead", "fields": [{"field": "email"}]},
    )
    assert form.status_code == 201 and form.json()["name"] == COMBINING


# --- SQL metacharacters ---------------------------------------------------------------------

SQLI = [
    "' OR '1'='1",
    "'; DROP TABLE records; --",
    '" OR ""="',
    "1) OR (1=1",
    "%",
    "_",
    "\\",
    "' UNION SELECT key_hash FROM api_keys --",
    "$1",
    "abc%' OR 1=1 --",
]


def _string_query_params(spec: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, item in spec["paths"].items():
        op = item.get("get")
        if op is None or not path.startswith("/v1"):
            continue
        for param in op.get("parameters", []):
            schema = param.get("schema", {})
            kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if param["in"] == "query" and "string" in kinds:
                found.append((path, param["name"]))
    return found


def test_sql_metacharacters_in_every_string_filter(client, workspace, live_server) -> None:
    """Every string query parameter of every GET (from the OpenAPI document, so a new filter
    is covered when it is added): no 5xx, filters match nothing, the data is intact."""
    w = workspace(scopes=ADMIN)
    for i in range(3):
        assert _contact(client, w, first_name=f"P{i}", email=f"p{i}@example.com").status_code == 201
    rid = client.get("/v1/entities/contact/records", headers=w.headers).json()["data"][0]["id"]
    fills = {
        "entity": "contact",
        "record_id": rid,
        "form_id": "x",
        "import_id": "x",
        "webhook_id": "x",
        "job_id": "x",
        "set_id": "x",
        "merge_id": "x",
        "rule": "x",
        "field": "email",
    }
    params = _string_query_params(client.get("/openapi.json").json())
    assert ("/v1/entities/{entity}/records", "tag") in params
    assert ("/v1/audit-log", "actor") in params
    assert ("/v1/entities/{entity}/records", "cursor") in params
    for path, name in params:
        url = path.format(**fills)
        for payload in SQLI:
            answer = client.get(url, params={name: payload}, headers=w.headers)
            assert answer.status_code in (200, 400, 404), (url, name, payload, answer.text[:300])
            if answer.status_code == 200 and name not in ("entity",):
                body = answer.json()
                listed = body.get("data") if isinstance(body, dict) else None
                if (
                    isinstance(listed, list)
                    and url.endswith("/records")
                    and name != "include_deleted"
                ):
                    assert listed == [], (url, name, payload)
            if name == "cursor":  # a tampered cursor is a 4xx, never a 5xx or a page
                assert answer.status_code in (400, 404), (url, payload, answer.text[:200])
    assert _records(live_server) == 3
    assert len(client.get("/v1/entities/contact/records", headers=w.headers).json()["data"]) == 3


def test_tampered_cursors_are_a_validation_error(client, workspace) -> None:
    w = workspace(scopes=ADMIN)
    for i in range(3):
        _contact(client, w, first_name=f"P{i}")
    page = client.get("/v1/entities/contact/records?limit=1", headers=w.headers).json()
    cursor = page["next_cursor"]
    assert cursor
    for bad in (cursor[:-2] + "AA", cursor + "'--", "x" * 500, "", "%00", cursor[::-1]):
        answer = client.get(
            "/v1/entities/contact/records", params={"limit": 1, "cursor": bad}, headers=w.headers
        )
        if bad == "":
            assert answer.status_code in (200, 400)
            continue
        assert answer.status_code == 400, (bad, answer.text[:200])
        assert answer.json()["error"]["code"] == "validation_error"


# --- uploads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\x\\contacts.csv", "contacts.csv"),
        ("..", "import.csv"),
        ("a\x01b\r\n.csv", "ab.csv"),
        ("%2e%2e%2fsecret.csv", "%2e%2e%2fsecret.csv"),
    ],
)
def test_upload_names_are_reduced_to_a_safe_base_name(
    client, workspace, name: str, stored: str
) -> None:
    w = workspace()
    raw = client.post(
        "/v1/imports",
        params={"entity": "contact", "filename": name},
        headers={**w.headers, "Content-Type": "text/csv"},
        content=b"first_name\nAnn\n",
    )
    assert raw.status_code == 201, raw.text
    assert raw.json()["filename"] == stored
    multipart = client.post(
        "/v1/imports",
        params={"entity": "contact"},
        headers=w.headers,
        files={"file": (name, b"first_name\nAnn\n", "text/csv")},
    )
    assert multipart.status_code in (201, 400), multipart.text
    if multipart.status_code == 201:
        assert "/" not in multipart.json()["filename"] and "\\" not in multipart.json()["filename"]
        assert ".." not in multipart.json()["filename"].replace("import.csv", "")


def test_a_nul_in_an_upload_name_is_refused(client, workspace) -> None:
    w = workspace()
    answer = client.post(
        "/v1/imports",
        params={"entity": "contact", "filename": "a\x00.csv"},
        headers={**w.headers, "Content-Type": "text/csv"},
        content=b"first_name\nAnn\n",
    )
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]["message"]


# --- CSV formula injection ------------------------------------------------------------------


def test_the_import_report_neutralises_formulas(client, workspace) -> None:
    """Every cell of the report that a spreadsheet would run (= + - @ tab CR first) starts
    with a quote; hostile values that end up in errors cannot start a cell."""
    w = workspace(scopes=ADMIN)
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    field = client.post(
        "/v1/entities/contact/fields",
        headers=w.headers,
        json={"name": "score", "type": "number"},
    )
    assert field.status_code == 201, field.text
    lines = ["first_name,email,score"]
    for value in hostile:
        quoted = '"' + value.replace('"', '""') + '"'
        lines.append(f"{quoted},{quoted},{quoted}")
    upload = client.post(
        "/v1/imports",
        params={"entity": "contact"},
        headers={**w.headers, "Content-Type": "text/csv"},
        content="\n".join(lines).encode(),
    )
    assert upload.status_code == 201, upload.text
    iid = upload.json()["id"]
    mapping = {"first_name": "first_name", "email": "email", "score": "score"}
    mapped = client.put(
        f"/v1/imports/{iid}/mapping",
        headers=w.headers,
        json={"mapping": mapping, "dedup_mode": "skip"},
    )
    assert mapped.status_code == 200, mapped.text
    done = client.post(f"/v1/imports/{iid}/start?wait=true", headers=w.headers)
    assert done.status_code == 200, done.text
    report = client.get(f"/v1/imports/{iid}/report.csv", headers=w.headers)
    assert report.status_code == 200
    table = list(csv.reader(io.StringIO(report.text, newline="")))
    assert len(table) == 1 + len(hostile)
    cells = [cell for row in table for cell in row if cell]
    assert cells and not [c for c in cells if c.startswith(RISKY)], cells
    errors = [row[-1] for row in table[1:]]
    assert all(e for e in errors), errors  # the bad numbers are reported, quoted if needed
