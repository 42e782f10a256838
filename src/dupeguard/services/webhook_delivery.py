"""Webhook delivery: drain the outbox (``webhook_deliveries``), sign, POST, retry.

:func:`deliver_due` claims the deliveries that are due, POSTs each one's JSON payload and
records the result; :class:`WebhookWorker` calls it every second from a daemon thread of the
server. Several server processes may run workers on one database: a delivery is *claimed* by
one conditional ``UPDATE`` (PostgreSQL first locks the candidates with ``FOR UPDATE SKIP
LOCKED``, so workers take different rows; SQLite serialises the claim behind its write lock),
and the claim pushes ``next_attempt_at`` forward by :data:`LEASE`: a process that dies while
delivering leaves the row to be retried after the lease, never lost and never sent twice
at once. Delivery is therefore *at least once*; receivers deduplicate by ``X-Dupeguard-Delivery``.

Each request carries::

    Content-Type: application/json
    X-Dupeguard-Event: record.created
    X-Dupeguard-Delivery: <delivery id, also "id" in the body>
    X-Dupeguard-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>

A 2xx answer within :data:`TIMEOUT` seconds is success; redirects are not followed (a 3xx is a
failure, like any other status or a network error). Failures are retried after
:data:`BACKOFF` (10 s, 1 min, 5 min, 30 min, 2 h, 6 h); after the last retry the delivery is
``failed``. The target is checked against the SSRF rule again before every attempt, and the
attempt connects to the address that check resolved (:func:`~.webhooks.pin_target`), so a DNS
answer that changes in between (rebinding) cannot point the request at a private address.

A signing secret sealed with ``DUPEGUARD_ENCRYPTION_KEY`` is opened just before the attempt
(:func:`.crypto.open_secret`); when the key is missing or wrong the attempt fails like a
network error — retried on the same schedule, its ``last_error`` saying what is wrong, and a
warning logged — and nothing is sent unsigned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import __version__
from ..core.errors import ConfigError, ValidationError
from ..store.session import begin_write, session_scope
from ..store.tables import Webhook, WebhookDelivery, utcnow
from .crypto import open_secret
from .webhooks import Resolver, pin_target

__all__ = [
    "BACKOFF",
    "LEASE",
    "MAX_ATTEMPTS",
    "TIMEOUT",
    "DeliveryReport",
    "WebhookWorker",
    "deliver_due",
    "sign",
]

logger = logging.getLogger("dupeguard.webhooks")

BACKOFF: Sequence[timedelta] = tuple(timedelta(seconds=s) for s in (10, 60, 300, 1800, 7200, 21600))
"""Wait before retry n (after the n-th failed attempt)."""
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=5)
"""How long a claimed delivery belongs to the worker that claimed it."""
TIMEOUT = 5.0
_PARALLEL = 8
_MAX_ERROR = 500


def sign(secret: str, body: bytes) -> str:
    """The ``X-Dupeguard-Signature`` value for ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_client() -> httpx.Client:
    """An HTTP client for deliveries: 5 s timeouts, no redirects, no proxies from the
    environment (the SSRF check must see the host actually connected to)."""
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver_due` call did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


@dataclass(frozen=True)
class _Claim:
    id: str
    attempts: int
    """Including the attempt being made."""
    event: str
    payload: dict[str, Any]
    url: str
    secret: str
    """As stored: plaintext or sealed (``enc:v1:…``)."""


_DUE = (WebhookDelivery.state == "pending",)


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[_Claim]:
    due = (*_DUE, WebhookDelivery.next_attempt_at <= now)
    with session_scope(sessions) as session:  # cheap read first: no write lock when idle
        if session.scalar(select(WebhookDelivery.id).where(*due).limit(1)) is None:
            return []
    claims: list[_Claim] = []
    with session_scope(sessions) as session:
        begin_write(session)
        rows = session.execute(
            select(WebhookDelivery, Webhook.url, Webhook.secret, Webhook.active)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(*due)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        ).all()
        for delivery, url, secret, active in rows:
            guard = (
                WebhookDelivery.id == delivery.id,
                *_DUE,
                WebhookDelivery.attempts == delivery.attempts,
            )
            if delivery.attempts >= MAX_ATTEMPTS or not active:
                reason = "webhook is disabled" if not active else "last attempt was interrupted"
                session.execute(
                    update(WebhookDelivery)
                    .where(*guard)
                    .values(state="failed", last_error=reason)
                    .execution_options(synchronize_session=False)
                )
                continue
            claimed = session.execute(
                update(WebhookDelivery)
                .where(*guard)
                .values(attempts=delivery.attempts + 1, next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                claims.append(
                    _Claim(
                        delivery.id,
                        delivery.attempts + 1,
                        delivery.event,
                        dict(delivery.payload),
                        url,
                        secret,
                    )
                )
    return claims


def _attempt(
    client: httpx.Client, claim: _Claim, allow_private: bool, resolve: Resolver | None
) -> tuple[int | None, str | None]:
    """POST one delivery: ``(status, None)`` on success, ``(status or None, error)`` else."""
    try:
        target = pin_target(claim.url, allow_private=allow_private, resolve=resolve)
    except ValidationError as exc:
        return None, exc.message
    try:
        secret = open_secret(claim.secret)
    except ConfigError as exc:
        logger.warning("webhook delivery %s not sent: %s", claim.id, exc.message)
        return None, f"cannot sign: {exc.message}"
    body = json.dumps(claim.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"dupeguard-webhooks/{__version__}",
        "X-Dupeguard-Event": claim.event,
        "X-Dupeguard-Delivery": claim.id,
        "X-Dupeguard-Signature": sign(secret, body),
    }
    extensions: dict[str, Any] = {}
    if target.address is not None:  # connect to the checked address, never resolve again
        headers["Host"] = target.host_header
        extensions["sni_hostname"] = target.server_name
    try:  # streamed and never read: a receiver cannot make us download a large answer
        with client.stream(
            "POST", target.url, content=body, headers=headers, extensions=extensions
        ) as response:
            status = response.status_code
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


def _finish(
    sessions: sessionmaker[Session],
    claim: _Claim,
    status: int | None,
    error: str | None,
    now: datetime,
) -> str:
    """Record the attempt; the delivery's new state (``retrying`` means pending again)."""
    values: dict[str, Any] = {"last_status": status, "last_error": error}
    if error is None:
        state, values["state"], values["delivered_at"] = "delivered", "delivered", now
    elif claim.attempts >= MAX_ATTEMPTS:
        state, values["state"] = "failed", "failed"
    else:
        state, values["next_attempt_at"] = "retrying", now + BACKOFF[claim.attempts - 1]
    if error is not None:
        values["last_error"] = error[:_MAX_ERROR]
    with session_scope(sessions) as session:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.id,
                *_DUE,
                WebhookDelivery.attempts == claim.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return state


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    limit: int = 100,
    allow_private: bool = False,
    resolve: Resolver | None = None,
) -> DeliveryReport:
    """Claim up to ``limit`` deliveries due at ``now`` (default: the current time), deliver
    them (a few at once) and record each result; results are timed from ``now`` when given,
    so tests can step through the retry schedule without sleeping."""
    claims = _claim(sessions, now or utcnow(), limit)
    if not claims:
        return DeliveryReport()
    own = client is None
    http = new_client() if client is None else client

    def one(claim: _Claim) -> str:
        status, error = _attempt(http, claim, allow_private, resolve)
        if error is not None:
            logger.info("webhook delivery %s attempt %d: %s", claim.id, claim.attempts, error)
        return _finish(sessions, claim, status, error, now or utcnow())

    try:
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(claims))) as pool:
            states = list(pool.map(one, claims))
    finally:
        if own:
            http.close()
    return DeliveryReport(
        delivered=states.count("delivered"),
        retrying=states.count("retrying"),
        failed=states.count("failed"),
    )


class WebhookWorker:
    """Delivers due webhooks from a daemon thread, polling every ``interval`` seconds.

    ``start()`` and ``stop()`` are called by the application's lifespan; ``stop`` waits for
    the current round (at most a few seconds: every request has a 5 s timeout).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        allow_private: bool = False,
        interval: float = 1.0,
        limit: int = 100,
    ) -> None:
        self.sessions = sessions
        self.allow_private = allow_private
        self.interval = interval
        self.limit = limit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dupeguard-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        with new_client() as client:
            while not self._stop.is_set():
                attempted = 0
                try:
                    attempted = deliver_due(
                        self.sessions,
                        client=client,
                        limit=self.limit,
                        allow_private=self.allow_private,
                    ).attempted
                except Exception:  # the database may be away for a while: keep polling
                    logger.exception("webhook delivery round failed")
                if attempted < self.limit:
                    self._stop.wait(self.interval)
