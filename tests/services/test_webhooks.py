"""Webhooks: targets (SSRF), the outbox, signed delivery and retries, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dupeguard.core.errors import NotFoundError, ValidationError
from dupeguard.services import webhook_delivery as delivery
from dupeguard.services import webhooks
from dupeguard.services.entities import set_match_keys
from dupeguard.services.intake import Inbound, submit
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from dupeguard.store.tables import WebhookDelivery

from ..webhook_receiver import Receiver

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def ws(sessions) -> str:
    with session_scope(sessions) as s:
        workspace_id = create_workspace(session=s, name="Acme").id
        set_match_keys(session=s, workspace_id=workspace_id, entity="lead", fields=["email"])
        return workspace_id


@pytest.fixture
def receiver():
    with Receiver() as hub:
        yield hub


def _hook(sessions, ws: str, url: str) -> tuple[str, str]:
    with session_scope(sessions) as s:
        hook, secret = webhooks.create_webhook(
            session=s, workspace_id=ws, url=url, allow_private=True
        )
        return hook.id, secret


def _intake(sessions, ws: str, data: dict[str, Any], mode: str = "skip") -> str:
    with session_scope(sessions) as s:
        outcome = submit(
            session=s,
            workspace_id=ws,
            entity="lead",
            inbound=Inbound(data),
            source="api",
            mode=mode,
        )
        return outcome.decision


def _deliveries(sessions) -> list[WebhookDelivery]:
    with session_scope(sessions) as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def _public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://192.168.1.10/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://240.0.0.1/",
        "http://localhost/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        webhooks.check_target(url)
    assert caught.value.details == {"field": "url"}
    assert webhooks.check_target(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "example.com/hook",
        "http:///path",
        "http://user:pw@example.com/",
        "http://example.com:99999/",
        "",
    ],
)
def test_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        webhooks.check_target(url, resolve=_public, allow_private=True)


def test_every_resolved_address_must_be_public() -> None:
    assert webhooks.check_target("https://hooks.example.com/x", resolve=_public)
    with pytest.raises(ValidationError, match=r"10\.1\.2\.3"):
        webhooks.check_target(
            "https://hooks.example.com/x", resolve=lambda h, p: ["93.184.216.34", "10.1.2.3"]
        )

    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(ValidationError, match="does not resolve"):
        webhooks.check_target("https://nowhere.invalid/", resolve=nxdomain)


def test_create_list_delete(sessions, ws: str) -> None:
    with session_scope(sessions) as s:
        hook, secret = webhooks.create_webhook(
            session=s, workspace_id=ws, url="https://hooks.example.com/x", resolve=_public
        )
        assert secret.startswith("whsec_") and len(secret) > 40
        assert hook.events == ["record.created"] and hook.active
        with pytest.raises(ValidationError):
            webhooks.create_webhook(
                session=s,
                workspace_id=ws,
                url="https://hooks.example.com/x",
                events=["record.deleted"],
                resolve=_public,
            )
        assert [h.id for h in webhooks.list_webhooks(session=s, workspace_id=ws)] == [hook.id]
        other = create_workspace(session=s, name="Other").id
        with pytest.raises(NotFoundError):
            webhooks.delete_webhook(session=s, workspace_id=other, webhook_id=hook.id)
        webhooks.delete_webhook(session=s, workspace_id=ws, webhook_id=hook.id)
        assert webhooks.list_webhooks(session=s, workspace_id=ws) == []


def test_record_created_is_delivered_once_signed(sessions, ws: str, receiver: Receiver) -> None:
    hook_id, secret = _hook(sessions, ws, receiver.url)
    assert _intake(sessions, ws, {"email": "jane@acme.com", "first_name": "Jane"}) == "created"
    assert _intake(sessions, ws, {"email": "jane@acme.com"}) == "skipped"
    assert _intake(sessions, ws, {"email": "jane@acme.com", "phone": "555"}, "update") == "updated"
    (queued,) = _deliveries(sessions)
    assert queued.state == "pending" and queued.event == "record.created"

    report = delivery.deliver_due(sessions, allow_private=True)
    assert report == delivery.DeliveryReport(delivered=1)
    (got,) = receiver.received
    assert got.signed_with(secret) and not got.signed_with("whsec_other")
    assert got.headers["x-dupeguard-event"] == "record.created"
    assert got.headers["x-dupeguard-delivery"] == queued.id
    assert got.headers["content-type"] == "application/json"
    body = got.json
    assert body["id"] == queued.id and body["event"] == "record.created"
    assert body["data"]["entity"] == "lead" and body["data"]["source"] == "api"
    assert body["data"]["data"] == {"email": "jane@acme.com", "first_name": "Jane"}

    (done,) = _deliveries(sessions)
    assert (done.state, done.attempts, done.last_status) == ("delivered", 1, 200)
    assert done.delivered_at is not None and done.webhook_id == hook_id
    assert delivery.deliver_due(sessions, allow_private=True) == delivery.DeliveryReport()
    assert len(receiver.received) == 1


def test_failures_back_off_then_fail(sessions, ws: str, receiver: Receiver) -> None:
    receiver.status = 500
    _hook(sessions, ws, receiver.url)
    _intake(sessions, ws, {"email": "jane@acme.com"})
    now = T0
    for attempt, wait in enumerate(delivery.BACKOFF, 1):
        report = delivery.deliver_due(sessions, now=now, allow_private=True)
        assert report == delivery.DeliveryReport(retrying=1)
        (row,) = _deliveries(sessions)
        assert (row.state, row.attempts, row.last_status) == ("pending", attempt, 500)
        assert row.last_error == "HTTP 500" and row.next_attempt_at == now + wait
        early = now + wait - timedelta(seconds=1)
        assert delivery.deliver_due(sessions, now=early, allow_private=True).attempted == 0
        now += wait
    assert delivery.deliver_due(sessions, now=now, allow_private=True).failed == 1
    (row,) = _deliveries(sessions)
    assert (row.state, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)
    assert len(receiver.received) == delivery.MAX_ATTEMPTS == 7
    later = now + timedelta(days=30)
    assert delivery.deliver_due(sessions, now=later, allow_private=True).attempted == 0


def test_redirects_are_not_followed(sessions, ws: str, receiver: Receiver) -> None:
    receiver.status = 302
    receiver.headers = {"Location": "http://169.254.169.254/"}
    _hook(sessions, ws, receiver.url)
    _intake(sessions, ws, {"email": "jane@acme.com"})
    assert delivery.deliver_due(sessions, now=T0, allow_private=True).retrying == 1
    (row,) = _deliveries(sessions)
    assert row.last_status == 302 and len(receiver.received) == 1


def test_target_is_checked_again_at_delivery(sessions, ws: str, receiver: Receiver) -> None:
    _hook(sessions, ws, receiver.url)  # allowed when created
    _intake(sessions, ws, {"email": "jane@acme.com"})
    assert delivery.deliver_due(sessions, now=T0).retrying == 1  # private targets now refused
    (row,) = _deliveries(sessions)
    assert row.last_status is None and "127.0.0.1" in (row.last_error or "")
    assert receiver.received == []


def test_unreachable_receiver_is_retried(sessions, ws: str, receiver: Receiver) -> None:
    url = receiver.url
    receiver.close()
    _hook(sessions, ws, url)
    _intake(sessions, ws, {"email": "jane@acme.com"})
    assert delivery.deliver_due(sessions, now=T0, allow_private=True).retrying == 1
    (row,) = _deliveries(sessions)
    assert row.last_status is None and row.last_error and "Connect" in row.last_error


def test_concurrent_workers_deliver_each_event_once(sessions, ws: str, receiver: Receiver) -> None:
    _hook(sessions, ws, receiver.url)
    for i in range(30):
        _intake(sessions, ws, {"email": f"u{i}@x.com"})
    reports: list[delivery.DeliveryReport] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            reports.append(delivery.deliver_due(sessions, limit=7, allow_private=True))
        except BaseException as exc:
            errors.append(exc)

    while any(d.state == "pending" for d in _deliveries(sessions)):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    assert sum(r.delivered for r in reports) == 30
    ids = [r.headers["x-dupeguard-delivery"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 30


def test_a_claimed_delivery_waits_for_its_lease(sessions, ws: str, receiver: Receiver) -> None:
    _hook(sessions, ws, receiver.url)
    _intake(sessions, ws, {"email": "jane@acme.com"})
    (claim,) = delivery._claim(sessions, T0, 10)  # a worker that died while delivering
    assert claim.attempts == 1
    assert delivery.deliver_due(sessions, now=T0 + timedelta(seconds=10)).attempted == 0
    after = T0 + delivery.LEASE
    assert delivery.deliver_due(sessions, now=after, allow_private=True).delivered == 1
    (row,) = _deliveries(sessions)
    assert row.attempts == 2 and row.state == "delivered" and len(receiver.received) == 1


def test_worker_thread_delivers_and_stops(sessions, ws: str, receiver: Receiver) -> None:
    _hook(sessions, ws, receiver.url)
    worker = delivery.WebhookWorker(sessions, allow_private=True, interval=0.05)
    worker.start()
    try:
        _intake(sessions, ws, {"email": "jane@acme.com"})
        assert len(receiver.wait_for(1, timeout=10)) == 1
    finally:
        worker.stop()
    assert worker._thread is None
