"""Plain regression tests for what the Schemathesis run (tests/api/test_schemathesis.py) found.

Each test names the check that caught the bug.
"""

from __future__ import annotations

import httpx
import pytest

from dupeguard.api.openapi_links import LINKS


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/forms", "GET, POST"),
        ("/v1/forms/0", "DELETE, GET, PATCH"),
        ("/v1/entities/contact/records/0", "DELETE, GET, PATCH"),
        ("/v1/entities/contact/matching-rules", "GET, POST"),
        ("/v1/entities/contact/match-keys", "GET, PUT"),
        ("/v1/imports", "GET, POST"),
        ("/openapi.json", "GET, HEAD"),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    client: httpx.Client, path: str, allowed: str
) -> None:
    """ST205 (allow_header_conformance): a 405 named only the first route's method, because
    FastAPI registers one route per method and Starlette's router answers with the first
    route whose path matched."""
    answer = client.request("OPTIONS", path)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    body = answer.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert body["error"]["details"]["allowed"] == allowed.split(", ")


def test_openapi_links_point_at_real_operations(client: httpx.Client) -> None:
    """Stateful fuzzing follows the document's links: each must name an existing operation
    and fill every path parameter of its target."""
    spec = client.get("/openapi.json").json()
    operations = {
        op["operationId"]: path
        for path, item in spec["paths"].items()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    count = 0
    for chain in LINKS:
        method, path = chain.source
        responses = spec["paths"][path][method]["responses"]
        links = [
            link
            for status, r in responses.items()
            if status.startswith("2")
            for link in r.get("links", {}).values()
        ]
        assert links, f"no links on {method} {path}"
        for link in links:
            target = operations[link["operationId"]]
            params = {p for p in link["parameters"] if not p.startswith("header.")}
            assert params == set(
                httpx.URL("http://x" + target).path.replace("}", "{").split("{")[1::2]
            )
            count += 1
    assert count >= 30


def test_405_allow_prefers_the_literal_path(client: httpx.Client) -> None:
    """ST205: ``/records/bulk`` also matches ``/records/{record_id}``; its 405 must name the
    bulk route's methods only."""
    answer = client.request("OPTIONS", "/v1/entities/contact/records/bulk")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


@pytest.mark.parametrize("bad", ["0.5", "1700000000", " 12 "])
def test_date_time_filters_refuse_numbers(client: httpx.Client, workspace, bad: str) -> None:
    """ST201 (negative_data_rejection): ``created_after=0.5`` was read as a Unix timestamp,
    though the document says ISO 8601 date-time."""
    w = workspace()
    for path, name in [
        ("/v1/entities/contact/records", "created_after"),
        ("/v1/audit-log", "created_after"),
        ("/v1/audit-log", "created_before"),
    ]:
        answer = client.get(path, params={name: bad}, headers=w.headers)
        assert answer.status_code == 400, (path, name, answer.text)
        assert answer.json()["error"]["details"]["field"] == name
    ok = client.get(
        "/v1/audit-log", params={"created_after": "2026-01-31T12:00:00Z"}, headers=w.headers
    )
    assert ok.status_code == 200
    detect = client.post(
        "/v1/ai/detect-duplicates",
        headers=w.headers,
        json={"entity_type": "contact", "scope": {"created_after": 1700000000}},
    )
    assert detect.status_code == 400, detect.text


def test_unknown_match_key_field_is_a_validation_error(client: httpx.Client, workspace) -> None:
    """ST302 (ensure_resource_availability): PUT match-keys of an entity just created
    answered 404 for a field name that does not exist, as if the entity were missing."""
    w = workspace(scopes=("read", "write", "admin"))
    assert client.post("/v1/entities", headers=w.headers, json={"name": "zip"}).status_code == 201
    answer = client.put("/v1/entities/zip/match-keys", headers=w.headers, json={"fields": ["nope"]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"]["field"] == "fields"
    missing = client.put("/v1/entities/nope/match-keys", headers=w.headers, json={"fields": []})
    assert missing.status_code == 404
