"""API keys: ``wbk_`` + 43 random URL-safe characters, stored only as a SHA-256 hash.

A key has 256 bits of entropy, so a fast hash is the right tool (a slow password hash would
only slow every request down); the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.errors import InsufficientPermissions, InvalidKey, NotFoundError, ValidationError
from ..store.tables import ApiKey, utcnow
from .workspaces import get_workspace

__all__ = [
    "PREFIX",
    "SCOPES",
    "authenticate",
    "create_key",
    "hash_key",
    "parse_scopes",
    "require_scope",
    "revoke_key",
]

_TOUCH_EVERY = timedelta(minutes=1)
PREFIX = "wbk_"
SCOPES = ("read", "write", "write:ai", "admin")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_scopes(scopes: str | Iterable[str]) -> list[str]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    parsed = {s.strip() for s in items if s.strip()}
    unknown = sorted(s for s in parsed if s not in SCOPES)
    if unknown:
        raise ValidationError(
            f"unknown scope {unknown[0]!r}: choose from {', '.join(SCOPES)}",
            details={"field": "scopes"},
        )
    if not parsed:
        raise ValidationError("a key needs at least one scope", details={"field": "scopes"})
    return [s for s in SCOPES if s in parsed]


def create_key(
    *,
    session: Session,
    workspace_id: str,
    scopes: str | Iterable[str],
    expires_at: datetime | None = None,
    name: str = "",
) -> tuple[ApiKey, str]:
    """A new key for the workspace; returns the stored key and the plaintext (shown once)."""
    get_workspace(session=session, workspace_id=workspace_id)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= utcnow():
            raise ValidationError("expiry must be in the future", details={"field": "expires"})
    plaintext = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=plaintext[:12],
        key_hash=hash_key(plaintext),
        scopes=parse_scopes(scopes),
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, plaintext


def authenticate(*, session: Session, authorization: str | None) -> ApiKey:
    """The key behind an ``Authorization: Bearer wbk_…`` header, or :class:`InvalidKey`."""
    if not authorization:
        raise InvalidKey("missing API key: send Authorization: Bearer wbk_…")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 100:
        raise InvalidKey("malformed API key: send Authorization: Bearer wbk_…")
    if not set(token[len(PREFIX) :]) <= _TOKEN_CHARS:
        raise InvalidKey("malformed API key")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token)))
    if key is None:
        raise InvalidKey("unknown API key")
    now = utcnow()
    if key.revoked_at is not None:
        raise InvalidKey("this API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise InvalidKey("this API key has expired")
    if key.last_used_at is None or key.last_used_at + _TOUCH_EVERY <= now:
        key.last_used_at = now  # at most once a minute: reads should not all turn into writes
    return key


def require_scope(key: ApiKey, scope: str) -> None:
    if scope not in key.scopes and "admin" not in key.scopes:
        raise InsufficientPermissions(f"this key lacks the {scope!r} scope")


def revoke_key(*, session: Session, workspace_id: str, key_id: str) -> ApiKey:
    key = session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
    )
    if key is None:
        raise NotFoundError(f"no API key {key_id!r} in this workspace")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
