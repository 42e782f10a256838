"""Automation events to webhooks: ``record.created`` (never on update, seed 001).

:func:`emit` writes one delivery per subscribed webhook and event into the outbox
(``webhook_deliveries``) in the caller's transaction, so an event exists exactly when the
change that caused it was committed; delivery happens afterwards, with retries
(:mod:`dupeguard.services.webhook_delivery`).

Webhooks are managed here too. A target must be ``http(s)`` and, unless private targets are
allowed (``DUPEGUARD_WEBHOOK_ALLOW_PRIVATE``, for tests and closed networks), every address its
host resolves to must be public: loopback, private, link-local (cloud metadata), multicast,
reserved and unspecified addresses are refused, so a webhook cannot be used to reach the
server's own network (SSRF). The rule is checked again before every delivery, since DNS
answers change, and the delivery then connects to the very address that was checked
(:func:`pin_target`: resolve once, connect to that IP with the original ``Host`` header and TLS
server name), so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot redirect it to a private address. The signing secret is generated here and
shown once, at creation. Every delivery is signed with it, so it cannot be hashed: with
``DUPEGUARD_ENCRYPTION_KEY`` set it is stored sealed (``enc:v1:…``, :func:`.crypto.seal_secret`),
without a key as it is; :func:`seal_secrets` seals the plaintext ones once a key is set and
re-seals the others with the newest key after a rotation (docs/SECURITY.md).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..core.errors import ConfigError, NotFoundError, ValidationError
from ..store.tables import Webhook, WebhookDelivery, new_id, utcnow
from . import crypto

__all__ = [
    "EVENTS",
    "SECRET_PREFIX",
    "PinnedTarget",
    "SealReport",
    "check_target",
    "create_webhook",
    "delete_webhook",
    "emit",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
    "pin_target",
    "seal_secrets",
]

EVENTS = ("record.created",)
SECRET_PREFIX = "whsec_"
MAX_URL = 2000

Resolver = Callable[[str, int], Iterable[str]]
"""``(host, port)`` → the addresses the host resolves to (tests replace DNS with this)."""


def emit(
    *,
    session: Session,
    workspace_id: str,
    event: str,
    payloads: Sequence[Mapping[str, Any]],
) -> int:
    """Queue ``event`` once per payload for every active webhook subscribed to it."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if not payloads:
        return 0
    hooks = [
        hook
        for hook in session.scalars(
            select(Webhook).where(Webhook.workspace_id == workspace_id, Webhook.active.is_(True))
        )
        if event in (hook.events or [])
    ]
    if not hooks:
        return 0
    now = utcnow()
    rows = []
    for hook in hooks:
        for payload in payloads:
            delivery_id = new_id()
            rows.append(
                {
                    "id": delivery_id,
                    "workspace_id": workspace_id,
                    "webhook_id": hook.id,
                    "event": event,
                    "payload": {
                        "id": delivery_id,
                        "event": event,
                        "created_at": now.isoformat(),
                        "data": dict(payload),
                    },
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    session.execute(insert(WebhookDelivery), rows)
    return len(rows)


# --- targets (SSRF) ------------------------------------------------------------------------


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _bad_url(message: str) -> ValidationError:
    return ValidationError(f"url: {message}", details={"field": "url"})


@dataclass(frozen=True)
class PinnedTarget:
    """Where to connect for a checked webhook URL: ``url`` with its host replaced by the
    checked ``address``, plus the ``host_header`` and ``server_name`` (TLS SNI and certificate
    check) of the original URL. ``address`` is None when private targets are allowed (no
    check was made, so there is nothing to pin)."""

    url: str
    original_url: str
    host_header: str
    server_name: str
    address: str | None


def check_target(url: str, *, allow_private: bool = False, resolve: Resolver | None = None) -> str:
    """``url`` if a webhook may be delivered to it, else ``ValidationError`` saying why.

    Every address the host resolves to must be public (unless ``allow_private``); a host that
    does not resolve is refused.
    """
    return pin_target(url, allow_private=allow_private, resolve=resolve).original_url


def pin_target(
    url: str, *, allow_private: bool = False, resolve: Resolver | None = None
) -> PinnedTarget:
    """Check ``url`` as :func:`check_target` does, resolving its host once, and say where to
    connect: the first resolved address, every one of which was checked."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise _bad_url(f"an http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _bad_url("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad_url("an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _bad_url("credentials in the URL are not allowed; the deliveries are signed")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    if allow_private:
        return PinnedTarget(url, url, host_header, parts.hostname, None)
    try:
        addresses = list((resolve or _resolve)(parts.hostname, port))
    except (OSError, UnicodeError):
        raise _bad_url(f"host {parts.hostname!r} does not resolve") from None
    if not addresses:
        raise _bad_url(f"host {parts.hostname!r} does not resolve")
    for address in addresses:
        if _forbidden(address):
            raise _bad_url(
                f"{parts.hostname!r} resolves to {address}, a loopback, private, link-local, "
                "multicast or reserved address; webhooks go to public addresses only"
            )
    address = addresses[0].split("%", 1)[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port is not None else literal
    pinned = parts._replace(netloc=netloc).geturl()
    return PinnedTarget(pinned, url, host_header, parts.hostname, address)


# --- management ----------------------------------------------------------------------------


def _events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(str(e).strip() for e in events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise ValidationError(
            f"events: unknown event {unknown[0]!r} (known: {', '.join(EVENTS)})",
            details={"field": "events"},
        )
    if not chosen:
        raise ValidationError("events: at least one event", details={"field": "events"})
    return chosen


def create_webhook(
    *,
    session: Session,
    workspace_id: str,
    url: str,
    events: Iterable[str] = EVENTS,
    allow_private: bool = False,
    resolve: Resolver | None = None,
) -> tuple[Webhook, str]:
    """A new webhook; returns it and its signing secret (shown once)."""
    url = check_target(url, allow_private=allow_private, resolve=resolve)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    hook = Webhook(
        workspace_id=workspace_id,
        url=url,
        events=_events(events),
        secret=crypto.seal_secret(secret),
        active=True,
    )
    session.add(hook)
    session.flush()
    return hook, secret


def list_webhooks(*, session: Session, workspace_id: str) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.workspace_id == workspace_id)
            .order_by(Webhook.created_at, Webhook.id)
        )
    )


def get_webhook(*, session: Session, workspace_id: str, webhook_id: str) -> Webhook:
    hook = session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.workspace_id == workspace_id)
    )
    if hook is None:
        raise NotFoundError(f"no webhook {webhook_id!r} in this workspace")
    return hook


def delete_webhook(*, session: Session, workspace_id: str, webhook_id: str) -> None:
    """Delete the webhook; its deliveries, pending ones included, go with it."""
    hook = get_webhook(session=session, workspace_id=workspace_id, webhook_id=webhook_id)
    session.delete(hook)
    session.flush()


def list_deliveries(
    *, session: Session, workspace_id: str, webhook_id: str, limit: int = 50
) -> list[WebhookDelivery]:
    """The webhook's most recent deliveries, newest first."""
    if not 1 <= limit <= 500:
        raise ValidationError("limit: between 1 and 500", details={"field": "limit"})
    get_webhook(session=session, workspace_id=workspace_id, webhook_id=webhook_id)
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.workspace_id == workspace_id,
                WebhookDelivery.webhook_id == webhook_id,
            )
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


# --- secrets at rest -----------------------------------------------------------------------


@dataclass(frozen=True)
class SealReport:
    """What :func:`seal_secrets` did: ``sealed`` (were plaintext), ``resealed`` (were sealed
    with an older key), ``unchanged`` (already sealed with the current key)."""

    sealed: int = 0
    resealed: int = 0
    unchanged: int = 0


def seal_secrets(*, session: Session) -> SealReport:
    """Seal every webhook's signing secret with the current encryption key, in every
    workspace: plaintext ones are encrypted, ones sealed with an older key (listed after the
    current one in ``DUPEGUARD_ENCRYPTION_KEY``) re-encrypted, the rest left alone, so running
    it twice changes nothing. One transaction: a secret that no configured key opens stops it
    with a ``ConfigError`` naming the webhook, and nothing is written."""
    cipher = crypto.current()
    if cipher is None:
        raise ConfigError(
            "sealing webhook secrets needs DUPEGUARD_ENCRYPTION_KEY (make one with "
            "`dupeguard encryption-key`)"
        )
    sealed = resealed = unchanged = 0
    hooks = session.scalars(select(Webhook).order_by(Webhook.id).with_for_update())
    for hook in hooks:
        if not hook.secret.startswith(crypto.PREFIX):
            hook.secret = cipher.encrypt(hook.secret)
            sealed += 1
        elif cipher.is_primary(hook.secret):
            unchanged += 1
        else:
            try:
                hook.secret = cipher.rotate(hook.secret)
            except ConfigError:
                raise ConfigError(
                    f"webhook {hook.id}: its signing secret cannot be decrypted with any key in "
                    "DUPEGUARD_ENCRYPTION_KEY (was the key replaced instead of rotated?); "
                    "nothing was changed"
                ) from None
            resealed += 1
    session.flush()
    return SealReport(sealed=sealed, resealed=resealed, unchanged=unchanged)
