"""Secrets at rest and in logs: API keys and form tokens exist only as hashes; key use is
logged by key id and prefix, never the key. Webhook signing secrets must be recoverable to
sign every delivery: sealed with DUPEGUARD_ENCRYPTION_KEY when one is set, stored as they are
without one (docs/SECURITY.md)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import inspect, select

from dupeguard.services import crypto
from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope

from ..webhook_receiver import Receiver

KEY = crypto.new_key()


def _every_text_value(sessions) -> str:
    """Every column of every table, as text (small test databases only)."""
    with session_scope(sessions) as s:
        conn = s.connection()
        out = []
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            from sqlalchemy import column
            from sqlalchemy import table as sa_table

            cols = [c["name"] for c in inspect(conn).get_columns(table)]
            rows = conn.execute(select(*[column(c) for c in cols]).select_from(sa_table(table)))
            out.extend(repr(tuple(row)) for row in rows)
        return "\n".join(out)


def test_keys_and_form_tokens_are_stored_only_hashed(client, workspace, live_server) -> None:
    w = workspace(scopes=("read", "write", "write:ai", "admin"))
    form = client.post(
        "/v1/forms",
        headers=w.headers,
        json={"name": "F", "entity": "lead", "fields": [{"field": "email"}]},
    ).json()
    assert form["token"]
    rotated = client.post(f"/v1/forms/{form['id']}/rotate-token", headers=w.headers).json()
    hook = client.post("/v1/webhooks", headers=w.headers, json={"url": "http://127.0.0.1:9/x"})
    dump = _every_text_value(live_server.sessions)
    for secret in (w.api_key, form["token"], rotated["token"]):
        assert secret not in dump
        assert secret[len("wbk_") :] not in dump
    if hook.status_code == 201:  # no encryption key: the signing secret is stored as it is
        assert hook.json()["secret"] in dump


@pytest.mark.live_server(encryption_key=KEY, webhook_allow_private=True)
def test_with_a_key_webhook_secrets_are_sealed_and_still_sign(
    client, workspace, live_server
) -> None:
    w = workspace(scopes=("read", "write", "admin"))
    with session_scope(live_server.sessions) as s:
        set_match_keys(session=s, workspace_id=w.workspace_id, entity="lead", fields=["email"])
    with Receiver() as receiver:
        created = client.post("/v1/webhooks", headers=w.headers, json={"url": receiver.url})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")
        dump = _every_text_value(live_server.sessions)
        assert secret not in dump and secret[len("whsec_") :] not in dump
        assert "enc:v1:" in dump
        lead = client.post(
            "/v1/entities/lead/records", headers=w.headers, json={"data": {"email": "a@x.com"}}
        )
        assert lead.status_code == 201, lead.text
        (got,) = receiver.wait_for(1)
        assert got.signed_with(secret)  # the server's worker unsealed it to sign


@pytest.mark.live_server(webhook_allow_private=True)
def test_key_use_is_logged_without_the_key(client, workspace, caplog) -> None:
    w = workspace()
    with caplog.at_level(logging.INFO, logger="dupeguard"):
        assert client.get("/v1/workspace", headers=w.headers).status_code == 200
        bad = client.get(
            "/v1/workspace", headers={"Authorization": w.headers["Authorization"] + "x"}
        )
        assert bad.status_code == 401
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert w.key_id in text and "GET /v1/workspace" in text
    assert w.api_key not in text and w.api_key[4:] not in text
