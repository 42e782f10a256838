"""Webhook signing secrets at rest: sealed with DUPEGUARD_ENCRYPTION_KEY when one is set,
opened to sign each delivery, sealed later by ``seal_secrets`` (idempotent), re-sealed after a
key rotation; a missing or wrong key fails the attempt with a clear error. Both databases."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from dupeguard.core.errors import ConfigError
from dupeguard.services import crypto, webhooks
from dupeguard.services import webhook_delivery as delivery
from dupeguard.services.entities import set_match_keys
from dupeguard.services.intake import Inbound, submit
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import WebhookDelivery

from ..webhook_receiver import Receiver

KEY_A = crypto.new_key()
KEY_B = crypto.new_key()
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_key() -> Iterator[None]:
    """Each test starts without a key and leaves none behind (the cipher is process-wide)."""
    crypto.configure(None)
    yield
    crypto.configure(None)


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        workspace_id = create_workspace(session=s, name="Acme").id
        set_match_keys(session=s, workspace_id=workspace_id, entity="lead", fields=["email"])
        return workspace_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hub:
        yield hub


def _hook(sessions, ws: str, url: str) -> tuple[str, str]:
    with session_scope(sessions) as s:
        hook, secret = webhooks.create_webhook(
            session=s, workspace_id=ws, url=url, allow_private=True
        )
        return hook.id, secret


def _raw(sessions, hook_id: str) -> str:
    """The column as stored, read with plain SQL (no model, no service)."""
    with session_scope(sessions) as s:
        value = s.execute(text("SELECT secret FROM webhooks WHERE id = :id"), {"id": hook_id})
        return str(value.scalar_one())


def _lead(sessions, ws: str, email: str) -> None:
    with session_scope(sessions) as s:
        submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound({"email": email}),
            source="api",
            mode="skip",
        )


def _deliver(sessions, now: datetime = T0) -> delivery.DeliveryReport:
    return delivery.deliver_due(sessions, now=now, allow_private=True)


def _seal(sessions) -> webhooks.SealReport:
    with session_scope(sessions) as s:
        return webhooks.seal_secrets(session=s)


def test_with_a_key_the_secret_is_sealed_and_deliveries_verify(sessions, ws, receiver) -> None:
    crypto.configure(KEY_A)
    hook_id, secret = _hook(sessions, ws, receiver.url)
    assert secret.startswith("whsec_")
    stored = _raw(sessions, hook_id)
    assert stored.startswith("enc:v1:") and len(stored) > 100
    assert secret not in stored and secret[len("whsec_") :] not in stored

    _lead(sessions, ws, "a@x.com")
    assert _deliver(sessions).delivered == 1
    (got,) = receiver.wait_for(1)
    assert got.signed_with(secret)  # the secret shown once at creation


def test_without_a_key_the_secret_is_stored_as_it_is(sessions, ws, receiver) -> None:
    hook_id, secret = _hook(sessions, ws, receiver.url)
    assert _raw(sessions, hook_id) == secret  # documented in docs/SECURITY.md
    _lead(sessions, ws, "a@x.com")
    assert _deliver(sessions).delivered == 1
    assert receiver.wait_for(1)[0].signed_with(secret)


@pytest.mark.parametrize(
    ("later_key", "message"),
    [(None, "DUPEGUARD_ENCRYPTION_KEY is not set"), (KEY_B, "cannot be decrypted")],
)
def test_a_missing_or_wrong_key_fails_the_attempt_clearly(
    sessions, ws, receiver, caplog, later_key, message
) -> None:
    crypto.configure(KEY_A)
    _, secret = _hook(sessions, ws, receiver.url)
    _lead(sessions, ws, "a@x.com")
    crypto.configure(later_key)
    with caplog.at_level(logging.WARNING, logger="dupeguard.webhooks"):
        report = _deliver(sessions)
    assert (report.delivered, report.retrying) == (0, 1)
    assert receiver.received == []  # nothing is sent unsigned
    with session_scope(sessions) as s:
        (row,) = s.scalars(select(WebhookDelivery))
        assert row.state == "pending" and row.last_error is not None
        assert row.last_error.startswith("cannot sign: ") and message in row.last_error
        assert "Traceback" not in row.last_error
    (warning,) = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert message in warning.getMessage() and warning.exc_info is None

    crypto.configure(KEY_A)  # the right key back: the retry goes out, signed
    assert _deliver(sessions, T0 + timedelta(minutes=1)).delivered == 1
    assert receiver.wait_for(1)[0].signed_with(secret)


def test_seal_secrets_seals_plaintext_ones_once(sessions, ws, receiver) -> None:
    first, secret = _hook(sessions, ws, receiver.url)
    second, _ = _hook(sessions, ws, receiver.url)
    assert _raw(sessions, first) == secret

    with pytest.raises(ConfigError, match="needs DUPEGUARD_ENCRYPTION_KEY"):
        _seal(sessions)
    assert _raw(sessions, first) == secret

    crypto.configure(KEY_A)
    assert _seal(sessions) == webhooks.SealReport(sealed=2)
    sealed = {h: _raw(sessions, h) for h in (first, second)}
    assert all(v.startswith("enc:v1:") for v in sealed.values())
    assert secret not in sealed[first]

    assert _seal(sessions) == webhooks.SealReport(unchanged=2)  # idempotent: nothing rewritten
    assert {h: _raw(sessions, h) for h in (first, second)} == sealed

    with session_scope(sessions) as s:
        webhooks.delete_webhook(session=s, workspace_id=ws, webhook_id=second)
    _lead(sessions, ws, "a@x.com")
    assert _deliver(sessions).delivered == 1
    assert receiver.wait_for(1)[0].signed_with(secret)


def test_rotation_reseals_with_the_new_key(sessions, ws, receiver) -> None:
    crypto.configure(KEY_A)
    hook_id, secret = _hook(sessions, ws, receiver.url)
    under_a = _raw(sessions, hook_id)

    crypto.configure(f"{KEY_B},{KEY_A}")  # rotate: the new key first, the old one still reads
    assert _seal(sessions) == webhooks.SealReport(resealed=1)
    under_b = _raw(sessions, hook_id)
    assert under_b != under_a and under_b.startswith("enc:v1:")
    assert _seal(sessions) == webhooks.SealReport(unchanged=1)

    crypto.configure(KEY_B)  # the old key retired
    _lead(sessions, ws, "a@x.com")
    assert _deliver(sessions).delivered == 1
    assert receiver.wait_for(1)[0].signed_with(secret)

    crypto.configure(KEY_A)  # the retired key alone no longer opens it
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        crypto.open_secret(under_b)


def test_seal_secrets_with_an_unrelated_key_changes_nothing(sessions, ws, receiver) -> None:
    crypto.configure(KEY_A)
    sealed_id, _ = _hook(sessions, ws, receiver.url)
    crypto.configure(None)
    plain_id, plain = _hook(sessions, ws, receiver.url)
    before = {sealed_id: _raw(sessions, sealed_id), plain_id: plain}

    crypto.configure(KEY_B)  # A was replaced, not rotated
    with pytest.raises(ConfigError, match=f"webhook {sealed_id}.*nothing was changed"):
        _seal(sessions)
    assert {h: _raw(sessions, h) for h in before} == before  # one transaction, rolled back
