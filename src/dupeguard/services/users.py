"""Web UI users and their sign-in sessions.

- Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106 low-memory profile);
  only the hash is stored, and a hash made with older parameters is upgraded at the next
  sign-in.
- A session token is 256 random bits, sent to the browser once (in an HttpOnly cookie); the
  database keeps only its SHA-256, like API keys. A session ends at its absolute expiry, after
  ``idle`` without use, or when revoked (logout).
- The CSRF token of a session is derived from its token (``csrf_token``): only the holder of
  the cookie can know it, and nothing more is stored.

E-mail addresses are unique per workspace (stored trimmed and lower-case); one address may
belong to users of several workspaces, in which case signing in asks which workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core.errors import DupeguardError, ValidationError
from ..store.tables import UiSession, User, utcnow
from .workspaces import get_workspace

__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "AmbiguousSignIn",
    "SessionEnded",
    "SignInFailed",
    "Signed",
    "create_user",
    "csrf_token",
    "hash_token",
    "pop_flash",
    "push_flash",
    "resolve_session",
    "revoke_session",
    "sign_in",
]

ROLES = ("admin", "member")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_TOUCH_EVERY = timedelta(minutes=1)
_MAX_FLASH = 5
_hasher = PasswordHasher()
# verified when no user has the address, so a wrong e-mail costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignInFailed(DupeguardError):
    """Wrong e-mail or password (one message for both: no hint which one)."""

    code = "invalid_credentials"


class AmbiguousSignIn(DupeguardError):
    """The e-mail and password fit users of several workspaces: the workspace must be named."""

    code = "workspace_required"


class SessionEnded(DupeguardError):
    """No valid session: ``reason`` is ``missing``, ``expired`` or ``revoked``."""

    code = "session_ended"

    def __init__(self, reason: str) -> None:
        super().__init__(f"session {reason}", details={"reason": reason})
        self.reason = reason


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session whose cookie holds ``token``."""
    return hmac.new(token.encode(), b"dupeguard-csrf", hashlib.sha256).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    *, session: Session, workspace_id: str, email: str, password: str, role: str = "member"
) -> User:
    """A new user of the workspace; the password is stored only as an argon2 hash."""
    get_workspace(session=session, workspace_id=workspace_id)
    address = normalise_email(email)
    if len(address) > 254 or not _EMAIL.match(address):
        raise ValidationError(
            f"not an e-mail address: {email.strip()[:80]!r}", details={"field": "email"}
        )
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            details={"field": "password"},
        )
    if role not in ROLES:
        raise ValidationError(
            f"role: one of {', '.join(ROLES)} (got {role!r})", details={"field": "role"}
        )
    taken = session.scalar(
        select(User.id).where(User.workspace_id == workspace_id, User.email == address)
    )
    if taken is not None:
        raise ValidationError(
            f"{address} already has a user in this workspace", details={"field": "email"}
        )
    user = User(
        workspace_id=workspace_id, email=address, password_hash=_hasher.hash(password), role=role
    )
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class Signed:
    """A new session: ``token`` goes into the cookie (and nowhere else)."""

    user: User
    ui_session: UiSession
    token: str


def sign_in(
    *,
    session: Session,
    email: str,
    password: str,
    lifetime: timedelta,
    workspace_id: str | None = None,
) -> Signed:
    """Check the password and open a session, or raise :class:`SignInFailed` (or
    :class:`AmbiguousSignIn` when it fits users of several workspaces and none was named)."""
    address = normalise_email(email)
    query = select(User).where(User.email == address)
    if workspace_id:
        query = query.where(User.workspace_id == workspace_id)
    candidates = list(session.scalars(query.order_by(User.created_at).limit(20)))
    if not candidates or len(password) > MAX_PASSWORD:
        _verify(_DUMMY_HASH, password)
        raise SignInFailed("wrong e-mail or password")
    matched = [user for user in candidates if _verify(user.password_hash, password)]
    if not matched:
        raise SignInFailed("wrong e-mail or password")
    if len(matched) > 1:
        raise AmbiguousSignIn(
            "this e-mail and password belong to several workspaces: name the workspace"
        )
    user = matched[0]
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UiSession(
        token_hash=hash_token(token),
        user_id=user.id,
        workspace_id=user.workspace_id,
        last_seen_at=now,
        expires_at=now + lifetime,
        flash=[],
    )
    session.add(row)
    session.flush()
    return Signed(user, row, token)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def resolve_session(
    *, session: Session, token: str | None, idle: timedelta, now: datetime | None = None
) -> tuple[UiSession, User]:
    """The live session behind a cookie's token and its user, or :class:`SessionEnded`.

    Use marks the session seen (at most once a minute, so page views do not all write)."""
    if not token or len(token) > 100:
        raise SessionEnded("missing")
    now = now or utcnow()
    found = session.execute(
        select(UiSession, User)
        .join(User, User.id == UiSession.user_id)
        .where(UiSession.token_hash == hash_token(token))
    ).first()
    if found is None:
        raise SessionEnded("missing")
    row, user = found
    if row.revoked_at is not None:
        raise SessionEnded("revoked")
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        raise SessionEnded("expired")
    if row.last_seen_at + _TOUCH_EVERY <= now:
        row.last_seen_at = now
    return row, user


def revoke_session(*, session: Session, ui_session_id: str) -> None:
    """End a session at once (logout): its cookie is refused from now on."""
    session.execute(
        update(UiSession)
        .where(UiSession.id == ui_session_id, UiSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def push_flash(ui_session: UiSession, text: str, level: str = "info") -> None:
    """Keep a message for the next page this session shows (a few at most)."""
    ui_session.flash = [*(ui_session.flash or []), {"level": level, "text": text}][-_MAX_FLASH:]


def pop_flash(ui_session: UiSession) -> list[dict[str, Any]]:
    """The session's pending messages, now cleared."""
    messages = list(ui_session.flash or [])
    if messages:
        ui_session.flash = []
    return messages
