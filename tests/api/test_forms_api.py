"""Forms over HTTP: management with an API key, public submissions with the form token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Activity, FormSubmission, Record

from .conftest import LiveServer, WorkspaceKey

INPUTS = [
    {"name": "email", "field": "email", "required": True},
    {"name": "first", "field": "first_name"},
    {"name": "lead_status", "field": "status"},
]


def _keys(live_server: LiveServer, w: WorkspaceKey) -> None:
    with session_scope(live_server.sessions) as s:
        set_match_keys(session=s, workspace_id=w.workspace_id, entity="lead", fields=["email"])


def _form(client: httpx.Client, w: WorkspaceKey, mode: str = "skip") -> dict[str, Any]:
    response = client.post(
        "/v1/forms",
        headers=w.headers,
        json={"name": "Signup", "fields": INPUTS, "dedup_mode": mode, "thank_you": "Thanks!"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _post(client: httpx.Client, form: dict[str, Any], data: dict[str, Any]) -> httpx.Response:
    return client.post(
        f"/v1/forms/{form['id']}/submissions",
        headers={"X-Form-Token": form["token"]},
        json={"data": data},
    )


def _submit(
    client: httpx.Client, w: WorkspaceKey, form: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """Submit publicly, check the public answer tells nothing about the CRM's contents, and
    return the submission as the form's owner sees it (plus the public thank-you)."""
    response = _post(client, form, data)
    assert response.status_code == 201, response.text
    public = response.json()
    assert set(public) == {"submission_id", "thank_you"}
    return {**_logged(client, w, form, public["submission_id"]), "thank_you": public["thank_you"]}


def _logged(
    client: httpx.Client, w: WorkspaceKey, form: dict[str, Any], submission_id: str
) -> dict[str, Any]:
    page = client.get(f"/v1/forms/{form['id']}/submissions?limit=500", headers=w.headers).json()
    (found,) = [s for s in page["data"] if s["id"] == submission_id]
    return dict(found)


def _count(live_server: LiveServer, table: Any) -> int:
    with session_scope(live_server.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_form_management(client: httpx.Client, workspace) -> None:
    w = workspace()
    form = _form(client, w)
    assert form["token"].startswith("wbf_") and form["token"].startswith(form["token_prefix"])
    assert form["submit_url"] == f"{client.base_url}/v1/forms/{form['id']}/submissions"
    assert form["entity"] == "lead" and form["dedup_mode"] == "skip" and form["active"]
    assert form["fields"][0] == {
        "name": "email",
        "field": "email",
        "label": "Email",
        "required": True,
    }

    got = client.get(f"/v1/forms/{form['id']}", headers=w.headers).json()
    assert got["token"] is None and got["token_prefix"] == form["token_prefix"]
    listing = client.get("/v1/forms", headers=w.headers).json()["data"]
    assert [f["id"] for f in listing] == [form["id"]] and listing[0]["token"] is None

    patched = client.patch(
        f"/v1/forms/{form['id']}", headers=w.headers, json={"dedup_mode": "update", "name": "New"}
    )
    assert patched.status_code == 200 and patched.json()["dedup_mode"] == "update"
    bad = client.patch(f"/v1/forms/{form['id']}", headers=w.headers, json={"dedup_mode": "merge"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    bad = client.post(
        "/v1/forms", headers=w.headers, json={"name": "X", "fields": [{"field": "shoe_size"}]}
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "fields[0].field"

    rotated = client.post(f"/v1/forms/{form['id']}/rotate-token", headers=w.headers).json()
    assert rotated["token"] and rotated["token"] != form["token"]
    assert _post(client, form, {"email": "a@b.com"}).status_code == 404  # the old token
    assert _post(client, rotated, {"email": "a@b.com"}).status_code == 201

    other = workspace()
    assert client.get(f"/v1/forms/{form['id']}", headers=other.headers).status_code == 404
    reader = workspace(workspace_id=w.workspace_id, scopes=("read",))
    refused = client.post("/v1/forms", headers=reader.headers, json={"name": "X", "fields": INPUTS})
    assert refused.status_code == 403
    assert client.delete(f"/v1/forms/{form['id']}", headers=w.headers).status_code == 204
    assert client.get(f"/v1/forms/{form['id']}", headers=w.headers).status_code == 404
    assert _post(client, rotated, {"email": "c@d.com"}).status_code == 404


def test_submissions_per_action(client: httpx.Client, workspace, live_server: LiveServer) -> None:
    w = workspace()
    _keys(live_server, w)
    skip, update, off = (_form(client, w, mode) for mode in ("skip", "update", "off"))

    body = _submit(
        client, w, skip, {"email": "jane@acme.com", "first": "Jane", "lead_status": "new"}
    )
    assert body["decision"] == "created" and body["record_id"]
    assert body["thank_you"] == "Thanks!" and body["matches"] == []
    rid = body["record_id"]

    skipped = _submit(client, w, skip, {"email": "JANE@acme.com", "first": "Janet"})
    assert skipped["decision"] == "skipped" and skipped["record_id"] == rid
    assert skipped["matched_by"] == "email" and skipped["matches"] == [rid]
    record = client.get(f"/v1/entities/lead/records/{rid}", headers=w.headers).json()
    assert record["data"]["first_name"] == "Jane"

    updated = _submit(
        client, w, update, {"email": "jane@acme.com", "first": "Janet", "lead_status": "won"}
    )
    assert updated["decision"] == "updated" and updated["changed_fields"] == ["first_name"]
    record = client.get(f"/v1/entities/lead/records/{rid}", headers=w.headers).json()
    assert record["data"] == {"email": "jane@acme.com", "first_name": "Janet", "status": "new"}
    with session_scope(live_server.sessions) as s:
        (activity,) = s.scalars(
            select(Activity).where(Activity.record_id == rid, Activity.kind == "updated")
        )
        assert activity.changes == {"first_name": {"old": "Jane", "new": "Janet"}}

    twice = [_submit(client, w, off, {"email": "jane@acme.com"}) for _ in "ab"]
    assert [t["decision"] for t in twice] == ["created", "created"]
    assert len({t["record_id"] for t in twice} | {rid}) == 3

    page = client.get(f"/v1/forms/{skip['id']}/submissions?limit=1", headers=w.headers).json()
    assert [s["decision"] for s in page["data"]] == ["created"] and page["next_cursor"]
    rest = client.get(
        f"/v1/forms/{skip['id']}/submissions?cursor={page['next_cursor']}", headers=w.headers
    ).json()
    assert [s["decision"] for s in rest["data"]] == ["skipped"] and rest["next_cursor"] is None


def test_conflict_is_recorded_and_writes_nothing(
    client: httpx.Client, workspace, live_server: LiveServer
) -> None:
    w = workspace()
    stored = [  # two stored leads, then email becomes the key (the index is backfilled)
        client.post(
            "/v1/entities/lead/records", headers=w.headers, json={"data": {"email": "jo@x.com"}}
        ).json()["record_id"]
        for _ in "ab"
    ]
    _keys(live_server, w)
    form = _form(client, w, "update")
    body = _submit(client, w, form, {"email": "jo@x.com", "first": "Jo"})
    assert (
        body["decision"] == "conflict" and body["record_id"] is None and len(body["matches"]) == 2
    )
    assert _count(live_server, Record) == 2
    (logged,) = client.get(f"/v1/forms/{form['id']}/submissions", headers=w.headers).json()["data"]
    assert logged["decision"] == "conflict" and sorted(logged["matches"]) == sorted(stored)


def test_no_match_keys_creates(client: httpx.Client, workspace) -> None:
    w = workspace()
    form = _form(client, w)
    decisions = [_submit(client, w, form, {"email": "a@b.com"})["decision"] for _ in "ab"]
    assert decisions == ["created", "created"]


def test_token_is_required(client: httpx.Client, workspace, live_server: LiveServer) -> None:
    w = workspace()
    form = _form(client, w)
    url = f"/v1/forms/{form['id']}/submissions"
    data = {"email": "a@b.com"}
    for response in (
        client.post(url, json={"data": data}),
        client.post(url, headers={"X-Form-Token": "nope"}, json={"data": data}),
        client.post(url, headers=w.headers, json={"data": data}),  # an API key is no token
    ):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_key"
    unknown = client.post(
        "/v1/forms/00000000-0000-0000-0000-000000000000/submissions",
        json={"data": data, "token": form["token"]},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong = client.post(url, json={"data": data, "token": "wbf_wrong"})  # same as unknown:
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"
    assert _count(live_server, Record) == 0 and _count(live_server, FormSubmission) == 0

    ok = client.post(url, json={"data": data, "token": form["token"]})
    assert ok.status_code == 201
    client.patch(f"/v1/forms/{form['id']}", headers=w.headers, json={"active": False})
    assert client.post(url, json={"data": data, "token": form["token"]}).status_code == 404


def test_bad_submissions(client: httpx.Client, workspace, live_server: LiveServer) -> None:
    form = _form(client, workspace())
    url = f"/v1/forms/{form['id']}/submissions"
    headers = {"X-Form-Token": form["token"]}
    cases = [
        (client.post(url, headers=headers, json={"data": {"first": "Jo"}}), "email"),
        (client.post(url, headers=headers, json={"data": {"email": "a@b.com", "x": 1}}), "x"),
        (client.post(url, headers=headers, json={"email": "a@b.com"}), "data"),
    ]
    for response, field in cases:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["field"] == field
    not_json = client.post(
        url, headers={**headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 400
    xml = client.post(url, headers={**headers, "Content-Type": "text/xml"}, content=b"<a/>")
    assert xml.status_code == 400
    assert _count(live_server, Record) == 0


def test_urlencoded_html_form(client: httpx.Client, workspace) -> None:
    w = workspace()
    form = _form(client, w)
    response = client.post(
        f"/v1/forms/{form['id']}/submissions",
        data={"token": form["token"], "email": "jane@acme.com", "first": "Jane", "lead_status": ""},
    )
    assert response.status_code == 201, response.text
    assert _logged(client, w, form, response.json()["submission_id"])["decision"] == "created"


@pytest.mark.live_server(form_rate_limit="2/minute")
def test_submissions_are_rate_limited(client: httpx.Client, workspace) -> None:
    w = workspace()
    form, other = _form(client, w, "off"), _form(client, w, "off")
    assert [_post(client, form, {"email": "a@b.com"}).status_code for _ in "ab"] == [201, 201]
    limited = _post(client, form, {"email": "a@b.com"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert _post(client, other, {"email": "a@b.com"}).status_code == 201  # per form


def test_openapi_marks_the_public_route(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    public = paths["/v1/forms/{form_id}/submissions"]["post"]
    assert public["security"] == []
    assert "application/x-www-form-urlencoded" in public["requestBody"]["content"]
    assert {"201", "401", "404", "429"} <= set(public["responses"])
    assert "200" not in public["responses"]  # one answer, whatever the decision
    assert any(p["name"] == "X-Form-Token" for p in public["parameters"])
    assert paths["/v1/forms/{form_id}/submissions"]["get"]["security"] == [{"ApiKey": []}]
    assert paths["/v1/forms"]["post"]["security"] == [{"ApiKey": []}]
