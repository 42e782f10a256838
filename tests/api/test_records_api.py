"""Records, lists and the workspace summary over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx


def test_record_lifecycle(client: httpx.Client, workspace) -> None:
    w = workspace()
    created = client.post(
        "/v1/entities/contact/records",
        headers=w.headers,
        json={"data": {"first_name": "Jane", "email": "jane@acme.com"}, "tags": ["vip"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    rid = body["record_id"]
    assert body["decision"] == "created" and body["lead_id"] == rid
    record = body["record"]
    assert record["id"] == rid and record["data"]["email"] == "jane@acme.com"
    assert record["tags"] == ["vip"] and created.headers["X-Request-ID"]
    got = client.get(f"/v1/entities/contact/records/{rid}", headers=w.headers)
    assert got.status_code == 200 and got.json()["record_id"] == rid
    patched = client.patch(
        f"/v1/entities/contact/records/{rid}",
        headers=w.headers,
        json={"data": {"phone": "555-123-4567", "first_name": None}},
    )
    assert patched.status_code == 200
    assert patched.json()["data"] == {"email": "jane@acme.com", "phone": "555-123-4567"}
    deleted = client.delete(f"/v1/entities/contact/records/{rid}", headers=w.headers)
    assert deleted.status_code == 200 and deleted.json()["deleted_at"]
    listing = client.get("/v1/entities/contact/records", headers=w.headers).json()
    assert listing["data"] == []
    binned = client.get(
        "/v1/entities/contact/records?include_deleted=true", headers=w.headers
    ).json()
    assert [r["record_id"] for r in binned["data"]] == [rid]
    restored = client.post(f"/v1/entities/contact/records/{rid}/restore", headers=w.headers)
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    summary = client.get("/v1/workspace", headers=w.headers).json()["data"]
    assert summary["record_counts"]["contact"] == 1 and summary["credits"] == 100


def test_filters_and_pages(client: httpx.Client, workspace) -> None:
    w = workspace()
    webinar = client.post("/v1/lists", headers=w.headers, json={"name": "webinar"}).json()["id"]
    for i in range(5):
        client.post(
            "/v1/entities/company/records",
            headers=w.headers,
            json={
                "data": {"name": f"Co {i}"},
                "tags": ["even"] if i % 2 == 0 else [],
                "list_ids": [webinar] if i < 2 else [],
            },
        )

    def ids(query: str) -> list[str]:
        out, cursor = [], None
        while True:
            params = query + (f"&cursor={cursor}" if cursor else "")
            page = client.get(f"/v1/entities/company/records?{params}", headers=w.headers).json()
            out += [r["data"]["name"] for r in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    assert ids("limit=2") == [f"Co {i}" for i in range(5)]
    assert ids("tag=even") == ["Co 0", "Co 2", "Co 4"]
    assert ids(f"list_id={webinar}") == ["Co 0", "Co 1"]
    assert ids("created_after=2999-01-01T00:00:00Z") == []
    assert ids("tag=%27%20OR%201%3D1%20--") == []  # SQL metacharacters are just text


def test_bulk_create_per_row_results(client: httpx.Client, workspace) -> None:
    w = workspace()
    rows = [{"data": {"email": f"u{i}@x.com"}} for i in range(3)] + [
        {"data": {"Bad": 1}},
        "not a row",
    ]
    response = client.post(
        "/v1/entities/contact/records/bulk", headers=w.headers, json={"records": rows}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * 3 + ["error"] * 2
    assert results[3]["error"]["code"] == "validation_error"
    too_many = client.post(
        "/v1/entities/contact/records/bulk",
        headers=w.headers,
        json={"records": [{"data": {}}] * 10_001},
    )
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "validation_error"


def test_validation_errors_name_the_field(client: httpx.Client, workspace) -> None:
    w = workspace()
    cases = [
        ({"data": {"Bad Name": "x"}}, "data.Bad Name"),
        ({"data": {"a": {"nested": True}}}, "data.a"),
        ({"data": {}, "colour": "red"}, "colour"),
        ({"nodata": 1}, "data"),
    ]
    for body, field in cases:
        response = client.post("/v1/entities/contact/records", headers=w.headers, json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error" and field in error["message"]
    unknown = client.post("/v1/entities/planet/records", headers=w.headers, json={"data": {}})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_scopes(client: httpx.Client, workspace) -> None:
    reader = workspace(scopes=("read",))
    denied = client.post("/v1/entities/contact/records", headers=reader.headers, json={"data": {}})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "insufficient_permissions"
    assert client.get("/v1/entities/contact/records", headers=reader.headers).status_code == 200
    assert client.get("/v1/workspace").status_code == 401


def test_tenant_isolation_on_every_endpoint(client: httpx.Client, workspace) -> None:
    """Workspace B's key with workspace A's ids: 404 everywhere, and no data from A."""
    a = workspace(name="Alpha")
    b = workspace(name="Beta")
    rid = client.post(
        "/v1/entities/contact/records",
        headers=a.headers,
        json={"data": {"email": "secret@alpha.com"}},
    ).json()["record_id"]
    lid = client.post("/v1/lists", headers=a.headers, json={"name": "alpha-list"}).json()["id"]
    calls = [
        ("GET", f"/v1/entities/contact/records/{rid}", None),
        ("PATCH", f"/v1/entities/contact/records/{rid}", {"data": {"x": "y"}}),
        ("DELETE", f"/v1/entities/contact/records/{rid}", None),
        ("POST", f"/v1/entities/contact/records/{rid}/restore", None),
        ("POST", "/v1/entities/contact/records", {"data": {}, "list_ids": [lid]}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, headers=b.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "secret@alpha.com" not in response.text
    for path in (
        "/v1/entities/contact/records",
        f"/v1/entities/contact/records?list_id={lid}",
        "/v1/lists",
        "/v1/workspace",
    ):
        response = client.get(path, headers=b.headers)
        assert response.status_code == 200
        assert "secret@alpha.com" not in response.text and "alpha-list" not in response.text
        assert "Alpha" not in response.text
    assert client.get(f"/v1/entities/contact/records/{rid}", headers=a.headers).status_code == 200


def test_timestamps_are_utc_iso8601(client: httpx.Client, workspace) -> None:
    w = workspace()
    body = client.post(
        "/v1/entities/deal/records",
        headers=w.headers,
        json={"data": {"name": "Renewal", "amount": 1200}},
    ).json()["record"]
    for stamp in (body["created_at"], body["updated_at"]):
        assert stamp.endswith(("+00:00", "Z")), stamp
    assert (
        client.get("/v1/workspace", headers=w.headers)
        .json()["data"]["created_at"]
        .endswith(("+00:00", "Z"))
    )


def test_idempotent_record_creation(client: httpx.Client, workspace) -> None:
    """A retried create with the same Idempotency-Key makes one record, not two."""
    import uuid

    w = workspace()
    key = str(uuid.uuid4())
    headers = {**w.headers, "Idempotency-Key": key}
    body = {"data": {"email": "retry@acme.com"}}
    first = client.post("/v1/entities/contact/records", headers=headers, json=body)
    again = client.post("/v1/entities/contact/records", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    listing = client.get("/v1/entities/contact/records", headers=w.headers).json()["data"]
    assert [r["record_id"] for r in listing] == [first.json()["record_id"]]
    other = client.post(
        "/v1/entities/contact/records", headers=headers, json={"data": {"email": "other@acme.com"}}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    bulk_key = {**w.headers, "Idempotency-Key": str(uuid.uuid4())}
    rows = {"records": [{"data": {"email": f"b{i}@acme.com"}} for i in range(3)]}
    one = client.post("/v1/entities/contact/records/bulk", headers=bulk_key, json=rows)
    two = client.post("/v1/entities/contact/records/bulk", headers=bulk_key, json=rows)
    assert one.json() == two.json()
    count = client.get("/v1/workspace", headers=w.headers).json()["data"]["record_counts"]
    assert count["contact"] == 4
