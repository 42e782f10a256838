"""Webhooks over HTTP: management (admin keys), SSRF refusal, delivery by the server's worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope

from ..webhook_receiver import Receiver
from .conftest import LiveServer

pytestmark = pytest.mark.live_server(webhook_allow_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hub:
        yield hub


def test_record_created_is_delivered_once(
    client: httpx.Client, workspace, live_server: LiveServer, receiver: Receiver
) -> None:
    w = workspace()
    admin = workspace(workspace_id=w.workspace_id, scopes=("admin",))
    with session_scope(live_server.sessions) as s:
        set_match_keys(session=s, workspace_id=w.workspace_id, entity="lead", fields=["email"])
    created = client.post(
        "/v1/webhooks",
        headers=admin.headers,
        json={"url": receiver.url, "events": ["record.created"]},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["record.created"]
    listed = client.get("/v1/webhooks", headers=admin.headers).json()
    assert [h["id"] for h in listed] == [hook["id"]] and listed[0]["secret"] is None

    lead = {"email": "jane@acme.com", "first_name": "Jane"}
    first = client.post("/v1/entities/lead/records", headers=w.headers, json={"data": lead})
    assert first.status_code == 201 and first.json()["decision"] == "created"
    rid = first.json()["record_id"]
    (got,) = receiver.wait_for(1)
    assert got.signed_with(hook["secret"])
    assert got.json["event"] == "record.created" and got.json["data"]["record_id"] == rid

    again = [
        client.post("/v1/entities/lead/records", headers=w.headers, json={"data": lead}),
        client.post(
            "/v1/entities/lead/records",
            headers=w.headers,
            json={"data": {**lead, "phone": "555"}, "dedup_mode": "update"},
        ),
    ]
    assert [r.json()["decision"] for r in again] == ["skipped", "updated"]
    time.sleep(2.5)  # the worker polls every second: give it time to (wrongly) deliver
    assert len(receiver.received) == 1

    deliveries = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
    assert deliveries.status_code == 200
    (row,) = deliveries.json()
    assert (row["state"], row["attempts"], row["last_status"]) == ("delivered", 1, 200)
    assert row["id"] == got.headers["x-dupeguard-delivery"]

    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=admin.headers).status_code == 204
    assert client.get("/v1/webhooks", headers=admin.headers).json() == []
    gone = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
    assert gone.status_code == 404


def test_form_submission_fires_record_created(
    client: httpx.Client, workspace, receiver: Receiver
) -> None:
    w = workspace(scopes=("admin",))
    hook = client.post("/v1/webhooks", headers=w.headers, json={"url": receiver.url}).json()
    form = client.post(
        "/v1/forms", headers=w.headers, json={"name": "F", "fields": [{"field": "email"}]}
    ).json()
    response = client.post(
        f"/v1/forms/{form['id']}/submissions",
        json={"token": form["token"], "data": {"email": "a@b.com"}},
    )
    assert response.status_code == 201
    (got,) = receiver.wait_for(1)
    assert got.signed_with(hook["secret"]) and got.json["data"]["source"] == "form"


@pytest.mark.live_server(webhook_allow_private=False)
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/", "ftp://x.org/"]
)
def test_private_targets_are_refused(client: httpx.Client, workspace, url: str) -> None:
    w = workspace(scopes=("admin",))
    response = client.post("/v1/webhooks", headers=w.headers, json={"url": url})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"]["field"] == "url"
    assert client.get("/v1/webhooks", headers=w.headers).json() == []


def test_webhooks_need_an_admin_key(client: httpx.Client, workspace) -> None:
    w = workspace()  # read, write, write:ai
    for response in (
        client.post("/v1/webhooks", headers=w.headers, json={"url": "https://example.com/"}),
        client.get("/v1/webhooks", headers=w.headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_permissions"
    assert client.get("/v1/webhooks").status_code == 401
    admin = workspace(scopes=("admin",))
    bad = client.post(
        "/v1/webhooks", headers=admin.headers, json={"url": "https://x.org/", "events": ["nope"]}
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "events"
