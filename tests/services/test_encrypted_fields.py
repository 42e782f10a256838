"""Encrypted fields: ciphertext at rest, plaintext to readers, never a match key, both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import String, cast, select

from dupeguard.core.errors import ConfigError, ValidationError
from dupeguard.services import crypto, entities, intake
from dupeguard.services.intake import Inbound
from dupeguard.services.webhooks import create_webhook
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope, sessionmaker_for
from dupeguard.store.tables import Activity, Record, WebhookDelivery

KEY = crypto.new_key()


@pytest.fixture
def sessions(engine):
    crypto.configure(KEY)
    yield sessionmaker_for(engine)
    crypto.configure(None)


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        w = create_workspace(session=s, name="Acme").id
        entities.create_field(
            session=s, workspace_id=w, entity="lead", name="ssn", type="text", encrypted=True
        )
        entities.set_match_keys(session=s, workspace_id=w, entity="lead", fields=["email"])
        create_webhook(
            session=s, workspace_id=w, url="https://hooks.example.com/x", allow_private=True
        )
    return w


def submit(sessions, ws, data, mode="skip"):
    with session_scope(sessions) as s:
        return intake.submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound(data),
            source="api",
            mode=mode,
        )


def raw(sessions, record_id: str) -> str:
    with session_scope(sessions) as s:
        return s.scalar(select(cast(Record.data, String)).where(Record.id == record_id))


def test_values_are_ciphertext_at_rest_and_plaintext_to_readers(sessions, ws) -> None:
    created = submit(sessions, ws, {"email": "a@x.com", "ssn": "123-45-6789"})
    stored = raw(sessions, created.record_id)
    assert "123-45-6789" not in stored and crypto.PREFIX in stored
    with session_scope(sessions) as s:
        record = s.get(Record, created.record_id)
        names = intake.encrypted_names(session=s, entity_id=record.entity_id)
        assert crypto.unseal(record.data, names)["ssn"] == "123-45-6789"
        payload = s.scalars(select(WebhookDelivery)).one().payload
        assert "ssn" not in payload["data"]["data"]


def test_update_compares_plaintext_and_the_feed_redacts(sessions, ws) -> None:
    created = submit(sessions, ws, {"email": "a@x.com", "ssn": "111"})
    assert submit(sessions, ws, {"email": "a@x.com", "ssn": "111"}, "update").decision == "skipped"
    changed = submit(sessions, ws, {"email": "a@x.com", "ssn": "222"}, "update")
    assert changed.decision == "updated" and changed.changed_fields == ["ssn"]
    with session_scope(sessions) as s:
        feed = s.scalars(select(Activity).where(Activity.kind == "updated")).one()
        assert feed.changes == {"ssn": {"old": "[encrypted]", "new": "[encrypted]"}}
        record = s.get(Record, created.record_id)
        assert crypto.unseal(record.data, ["ssn"])["ssn"] == "222"
    with session_scope(sessions) as s:
        edited, _ = intake.edit(
            session=s,
            workspace_id=ws,
            entity="lead",
            record_id=created.record_id,
            data={"ssn": "333"},
        )
        assert crypto.unseal(edited.data, ["ssn"])["ssn"] == "333"
    assert "333" not in raw(sessions, created.record_id)


def test_marking_and_unmarking_reseals_stored_values(sessions, ws) -> None:
    with session_scope(sessions) as s:
        entities.create_field(session=s, workspace_id=ws, entity="lead", name="note", type="text")
    created = submit(sessions, ws, {"email": "a@x.com", "note": "secret plan"})
    with session_scope(sessions) as s:
        entities.update_field(
            session=s, workspace_id=ws, entity="lead", name="note", encrypted=True
        )
    assert "secret plan" not in raw(sessions, created.record_id)
    with session_scope(sessions) as s:
        entities.update_field(
            session=s, workspace_id=ws, entity="lead", name="note", encrypted=False
        )
    assert json.loads(raw(sessions, created.record_id))["note"] == "secret plan"


def test_no_key_no_encrypted_fields_and_a_wrong_key_is_clear(sessions, ws) -> None:
    created = submit(sessions, ws, {"email": "a@x.com", "ssn": "1"})
    crypto.configure(None)
    with (
        pytest.raises(ValidationError, match="DUPEGUARD_ENCRYPTION_KEY"),
        session_scope(sessions) as s,
    ):
        entities.create_field(
            session=s, workspace_id=ws, entity="lead", name="pin", type="text", encrypted=True
        )
    with pytest.raises(ValidationError, match="encryption key"):
        submit(sessions, ws, {"email": "b@x.com", "ssn": "2"})
    crypto.configure(crypto.new_key())
    with session_scope(sessions) as s:
        record = s.get(Record, created.record_id)
        with pytest.raises(ConfigError, match="cannot be decrypted"):
            crypto.unseal(record.data, ["ssn"])
    with pytest.raises(ConfigError, match="Fernet"):
        crypto.configure("not-a-key")


def test_rotation_new_key_first_still_reads_old_values(sessions, ws) -> None:
    created = submit(sessions, ws, {"email": "a@x.com", "ssn": "old"})
    crypto.configure(f"{crypto.new_key()},{KEY}")
    with session_scope(sessions) as s:
        record = s.get(Record, created.record_id)
        assert crypto.unseal(record.data, ["ssn"])["ssn"] == "old"
