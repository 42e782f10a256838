"""Workspaces and API keys on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dupeguard.core.errors import (
    InsufficientPermissions,
    InvalidKey,
    NotFoundError,
    ValidationError,
)
from dupeguard.services.keys import (
    authenticate,
    create_key,
    hash_key,
    require_scope,
    revoke_key,
)
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import ApiKey, CreditEntry, Entity, Field


def test_workspace_gets_builtin_entities_and_an_opening_grant(sessions) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="  Acme  ", credits=50)
        assert ws.name == "Acme"
        entities = set(s.scalars(select(Entity.name).where(Entity.workspace_id == ws.id)))
        assert entities == {"contact", "company", "deal", "lead"}
        email = s.scalar(
            select(Field)
            .join(Entity)
            .where(Entity.name == "contact", Field.name == "email", Field.workspace_id == ws.id)
        )
        assert email is not None and email.type == "email" and not email.match_key
        ledger = s.scalars(select(CreditEntry).where(CreditEntry.workspace_id == ws.id)).all()
        assert [(e.delta, e.balance_after) for e in ledger] == [(50, 50)]


@pytest.mark.parametrize(("name", "credits"), [("", 0), ("x" * 201, 0), ("ok", -1)])
def test_bad_workspace_input(sessions, name: str, credits: int) -> None:
    with pytest.raises(ValidationError), session_scope(sessions) as s:
        create_workspace(session=s, name=name, credits=credits)


def test_keys_are_stored_only_as_hashes_and_authenticate(sessions) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="Acme")
        key, plaintext = create_key(session=s, workspace_id=ws.id, scopes="write:ai, read")
    assert plaintext.startswith("wbk_") and len(plaintext) > 40
    with session_scope(sessions) as s:
        stored = s.scalar(select(ApiKey).where(ApiKey.id == key.id))
        assert stored is not None
        assert stored.key_hash == hash_key(plaintext) and plaintext not in repr(stored.__dict__)
        assert stored.scopes == ["read", "write:ai"]
        found = authenticate(session=s, authorization=f"Bearer {plaintext}")
        assert found.id == key.id and found.last_used_at is not None
        require_scope(found, "write:ai")
        with pytest.raises(InsufficientPermissions):
            require_scope(found, "write")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic abc", "malformed"),
        ("Bearer sk_live_123", "malformed"),
        ("Bearer wbk_' OR 1=1 --", "malformed"),
        ("Bearer wbk_" + "A" * 43, "unknown"),
    ],
)
def test_invalid_keys(sessions, header: str | None, message: str) -> None:
    with session_scope(sessions) as s, pytest.raises(InvalidKey, match=message):
        authenticate(session=s, authorization=header)


def test_revoked_and_expired_keys_are_refused(sessions) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="Acme")
        key, plaintext = create_key(session=s, workspace_id=ws.id, scopes="read")
        soon, soon_text = create_key(
            session=s,
            workspace_id=ws.id,
            scopes="read",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    with session_scope(sessions) as s:
        revoke_key(session=s, workspace_id=key.workspace_id, key_id=key.id)
    with session_scope(sessions) as s, pytest.raises(InvalidKey, match="revoked"):
        authenticate(session=s, authorization=f"Bearer {plaintext}")
    with session_scope(sessions) as s:
        row = s.get(ApiKey, soon.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with session_scope(sessions) as s, pytest.raises(InvalidKey, match="expired"):
        authenticate(session=s, authorization=f"Bearer {soon_text}")


def test_keys_stay_in_their_workspace(sessions) -> None:
    with session_scope(sessions) as s:
        a = create_workspace(session=s, name="A")
        b = create_workspace(session=s, name="B")
        key_a, _ = create_key(session=s, workspace_id=a.id, scopes="read")
    with session_scope(sessions) as s, pytest.raises(NotFoundError):
        revoke_key(session=s, workspace_id=b.id, key_id=key_a.id)
    with session_scope(sessions) as s, pytest.raises(NotFoundError):
        create_key(session=s, workspace_id="no-such-workspace", scopes="read")


@pytest.mark.parametrize("scopes", ["", "read,fly", " , "])
def test_bad_scopes(sessions, scopes: str) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="A")
    with session_scope(sessions) as s, pytest.raises(ValidationError):
        create_key(session=s, workspace_id=ws.id, scopes=scopes)


def test_expiry_must_be_in_the_future(sessions) -> None:
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="A")
    with session_scope(sessions) as s, pytest.raises(ValidationError, match="future"):
        create_key(
            session=s,
            workspace_id=ws.id,
            scopes="read",
            expires_at=datetime.now(UTC) - timedelta(days=1),
        )
