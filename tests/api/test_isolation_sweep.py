"""Tenant isolation, generated from the app's routes: every operation that takes an id is
called with workspace B's key and workspace A's ids, and must answer 404 ``not_found`` (never
403: existence must not leak) without a trace of A's data; every list B can read must be
free of A's data too.

The operations come from the OpenAPI document (every route of the app; a route left out of
the schema is caught by ``test_every_route_is_in_the_document``), so a new route that forgets
to scope by workspace fails here without anyone adding it to a list. What is exempt, and why,
is spelled out in ``NOT_ID_ROUTES``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from .conftest import LiveServer

pytestmark = pytest.mark.live_server(webhook_allow_private=True)

ADMIN = ("read", "write", "write:ai", "admin")
_PARAM = re.compile(r"{([^}]+)}")

NOT_ID_ROUTES = {
    # Keyed by a value, not an id: B's upsert of A's e-mail makes or updates B's own record
    # (checked below not to touch or reveal A's), so 404 is not the expected answer.
    ("PUT", "/v1/entities/{entity}/records/by/{field}/{value}"),
}
"""Routes with an id parameter that are not expected to answer 404 for another workspace's
id. Routes whose only parameter is ``{entity}`` are swept with an entity only A has."""

BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/entities/{entity}/fields/{field}"): {"label": "B"},
    ("PATCH", "/v1/entities/{entity}/records/{record_id}"): {"data": {"first_name": "B"}},
    ("POST", "/v1/entities/{entity}/records/{record_id}/links"): {"target_id": "{target}"},
    ("PATCH", "/v1/entities/{entity}/matching-rules/{rule}"): {"description": "B"},
    ("PATCH", "/v1/entities/{entity}/duplicate-rules/{rule}"): {"description": "B"},
    ("PATCH", "/v1/forms/{form_id}"): {"name": "B"},
    ("POST", "/v1/forms/{form_id}/submissions"): {"data": {"email": "b@b.example"}},
    ("PUT", "/v1/imports/{import_id}/mapping"): {"mapping": {"email": "email"}},
    ("POST", "/v1/duplicate-record-sets/{set_id}/not-duplicate"): {"pairs": [["{r1}", "{r2}"]]},
    ("POST", "/v1/entities/{entity}/records"): {"data": {"email": "b@b.example"}},
    ("POST", "/v1/entities/{entity}/records/bulk"): {"records": [{"data": {"email": "b@b.b"}}]},
    ("PUT", "/v1/entities/{entity}/match-keys"): {"fields": []},
    ("POST", "/v1/entities/{entity}/fields"): {"name": "b_field", "type": "text"},
    ("POST", "/v1/entities/{entity}/merges"): {"primary_id": "{r1}", "duplicate_ids": ["{r2}"]},
    ("POST", "/v1/entities/{entity}/matching-rules"): {
        "name": "B rule",
        "conditions": [{"field": "email", "method": "email"}],
    },
    ("POST", "/v1/entities/{entity}/duplicate-rules"): {"name": "B", "matching_rules": ["x"]},
}


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201, 202), answer.text
    return answer.json()


def _seed_a(client: httpx.Client, h: dict[str, str]) -> dict[str, str]:
    """Workspace A with one of everything; returns the path values and A's telltales."""
    _ok(client.post("/v1/entities", headers=h, json={"name": "a_private", "label": "A"}))
    _ok(
        client.post(
            "/v1/entities/contact/fields", headers=h, json={"name": "a_field", "type": "text"}
        )
    )
    people = [("Zebulon", "Quarrington", "zeb.q@a-secret.example")] * 2
    rids = []
    for first, last, email in people:
        rids.append(
            _ok(
                client.post(
                    "/v1/entities/contact/records",
                    headers=h,
                    json={
                        "data": {"first_name": first, "last_name": last, "email": email},
                        "dedup_mode": "off",
                    },
                )
            )["record_id"]
        )
    third = _ok(
        client.post(
            "/v1/entities/contact/records",
            headers=h,
            json={"data": {"first_name": "Ysolde", "email": "ys@a-secret.example"}},
        )
    )
    link = _ok(
        client.post(
            f"/v1/entities/contact/records/{rids[0]}/links",
            headers=h,
            json={"target_id": third["record_id"]},
        )
    )
    mrule = _ok(
        client.post(
            "/v1/entities/contact/matching-rules",
            headers=h,
            json={"name": "A rule", "conditions": [{"field": "email", "method": "email"}]},
        )
    )
    drule = _ok(
        client.post(
            "/v1/entities/contact/duplicate-rules",
            headers=h,
            json={"name": "A dup rule", "matching_rules": [mrule["id"]]},
        )
    )
    form = _ok(
        client.post(
            "/v1/forms",
            headers=h,
            json={"name": "A form", "entity": "lead", "fields": [{"field": "email"}]},
        )
    )
    hook = _ok(client.post("/v1/webhooks", headers=h, json={"url": "http://127.0.0.1:9/a"}))
    imp = _ok(
        client.post(
            "/v1/imports",
            params={"entity": "contact"},
            headers={**h, "Content-Type": "text/csv"},
            content=b"email\nimp@a-secret.example\n",
        )
    )
    job = _ok(
        client.post(
            "/v1/duplicate-jobs?wait=true", headers=h, json={"entity": "contact", "threshold": 0.5}
        )
    )
    sets = _ok(client.get("/v1/duplicate-record-sets", headers=h))["data"]
    assert sets, "the job found no set in A"
    merge = _ok(
        client.post(
            "/v1/entities/contact/merges",
            headers=h,
            json={"primary_id": rids[0], "duplicate_ids": [rids[1]]},
        )
    )
    _ok(client.post("/v1/lists", headers=h, json={"name": "A list"}))
    return {
        "entity": "contact",
        "record_id": rids[0],
        "r1": rids[0],
        "r2": rids[1],
        "target": third["record_id"],
        "field": "a_field",
        "matching-rules": mrule["id"],
        "duplicate-rules": drule["id"],
        "form_id": form["id"],
        "webhook_id": hook["id"],
        "import_id": imp["id"],
        "job_id": job["id"],
        "set_id": sets[0]["id"],
        "merge_id": merge["id"],
        "link_id": link["id"],
        "value": "zeb.q@a-secret.example",
    }


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, list):
        return [_fill(t, values) for t in template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and path.startswith("/v1")
    ]


def test_every_route_is_in_the_document(live_server: LiveServer, client: httpx.Client) -> None:
    """The sweep walks the OpenAPI document; no API route may hide from it."""
    documented = set(_operations(client.get("/openapi.json").json()))
    routes = set()
    stack = list(live_server.app.routes)
    while stack:
        route = stack.pop()
        if isinstance(route, APIRoute):
            routes |= {(m, route.path) for m in route.methods if route.path.startswith("/v1")}
        stack.extend(getattr(getattr(route, "original_router", None), "routes", []))
    assert routes and routes <= documented, sorted(routes - documented)


def test_workspace_b_gets_404_for_every_id_of_workspace_a(client, workspace) -> None:
    a = workspace(scopes=ADMIN, name="Alpha")
    b = workspace(scopes=ADMIN, name="Bravo")
    values = _seed_a(client, a.headers)
    telltales = [v for k, v in values.items() if k != "entity"] + ["a-secret", "Zebulon", "Alpha"]
    b_form = _ok(
        client.post(
            "/v1/forms",
            headers=b.headers,
            json={"name": "B form", "entity": "lead", "fields": [{"field": "email"}]},
        )
    )
    spec = client.get("/openapi.json").json()
    swept, problems = 0, []
    for method, path in _operations(spec):
        params = _PARAM.findall(path)
        if not params or (method, path) in NOT_ID_ROUTES:
            continue
        fill = dict(values)
        if "rule" in params:
            fill["rule"] = values[
                "matching-rules" if "matching-rules" in path else "duplicate-rules"
            ]
        if params == ["entity"]:
            fill["entity"] = "a_private"  # only A has it
        url = _fill(path, fill)
        body = _fill(BODIES.get((method, path)), values)
        # the public submission takes a form token, not a key: B's own form's token
        kwargs: dict[str, Any] = {"headers": {**b.headers, "X-Form-Token": b_form["token"]}}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = body if body is not None else {}
        answer = client.request(method, url, **kwargs)
        swept += 1
        text = answer.text
        if answer.status_code != 404 or answer.json()["error"]["code"] != "not_found":
            problems.append(f"{method} {path}: {answer.status_code} {text[:200]}")
        leaked = [t for t in telltales if t in text and t not in url]
        if leaked:
            problems.append(f"{method} {path}: body shows A's {leaked}")
    assert not problems, "\n".join(problems)
    assert swept >= 40

    # every list B can read: no trace of A
    for method, path in _operations(spec):
        if method != "GET" or set(_PARAM.findall(path)) - {"entity"}:
            continue
        answer = client.get(_fill(path, {"entity": "contact"}), headers=b.headers)
        assert answer.status_code == 200, (path, answer.text[:200])
        leaked = [t for t in telltales if t in answer.text]
        assert not leaked, (path, leaked)
    # value-keyed upsert: B's own record, nothing of A's
    up = client.put(
        f"/v1/entities/contact/records/by/email/{values['value']}",
        headers=b.headers,
        json={"data": {"first_name": "Bea"}},
    )
    assert up.status_code == 201, up.text
    assert values["r1"] not in up.text and "Zebulon" not in up.text
    a_record = client.get(f"/v1/entities/contact/records/{values['r1']}", headers=a.headers)
    assert a_record.status_code == 200 and a_record.json()["data"]["first_name"] == "Zebulon"
