"""Who is signed in, CSRF, roles: the dependencies every web page uses.

::

    router = page_router()                      # dupeguard.web.pages

    @router.get("/things")
    def things(request: Request, viewer: ViewerDep, session: SessionDep) -> Response: ...

    @router.post("/things/{id}/edit")           # CSRF is checked before the route runs
    def edit(request: Request, viewer: AdminDep, session: SessionDep) -> Response: ...

- :data:`ViewerDep` is the signed-in user (:class:`Viewer`); without a live session the
  request is sent to ``/login`` (with ``next`` for a GET, and "your session expired" when it
  did). On every POST/PUT/PATCH/DELETE it also checks the CSRF token: the form field
  ``csrf_token`` (``{{ csrf_field() }}`` in a template) or the header ``X-CSRF-Token`` (for
  ``fetch`` from static/app.js). A wrong or missing token is :class:`CsrfFailed` (403 page).
- :data:`AdminDep` is a viewer whose role is ``admin``; a member gets a 403 page.
- Scope every service call by ``viewer.workspace_id``; never take a workspace from the request.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from ..api.deps import SessionDep
from ..core.errors import DupeguardError, InsufficientPermissions
from ..services.users import SessionEnded, csrf_token, resolve_session
from ..settings import Settings
from ..store.tables import UiSession, User

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "AdminDep",
    "CsrfFailed",
    "SessionEnded",
    "Viewer",
    "ViewerDep",
    "check_csrf",
    "clear_session_cookie",
    "cookie_secure",
    "current_viewer",
    "idle_timeout",
    "login_csrf",
    "require_admin",
    "session_cookie_name",
    "set_login_csrf_cookie",
    "set_session_cookie",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "dupeguard_login_csrf"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(DupeguardError):
    code = "csrf_failed"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of this request."""

    user: User
    ui_session: UiSession
    csrf: str

    @property
    def workspace_id(self) -> str:
        return self.user.workspace_id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def actor(self) -> str:
        """How the activity feed and the audit log name this user."""
        return f"user:{self.user.email}"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def cookie_secure(request: Request) -> bool:
    """``DUPEGUARD_COOKIE_SECURE`` when set; otherwise Secure unless this request came over
    plain HTTP to a loopback host (``localhost``, ``127.0.0.1``, ``::1``)."""
    configured = _settings(request).cookie_secure
    if configured is not None:
        return configured
    if request.url.scheme == "https":
        return True
    return not _loopback(request.url.hostname or "")


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def session_cookie_name(secure: bool) -> str:
    """``__Host-`` cookies must be Secure, host-only and on ``/``: the browser enforces it."""
    return "__Host-dupeguard_session" if secure else "dupeguard_session"


def _token_of(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(cookie_secure(request)))


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    secure = cookie_secure(request)
    response.set_cookie(
        session_cookie_name(secure),
        token,
        max_age=_settings(request).session_max_hours * 3600,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    secure = cookie_secure(request)
    response.delete_cookie(
        session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="lax"
    )


def idle_timeout(request: Request) -> timedelta:
    return timedelta(minutes=_settings(request).session_idle_minutes)


async def _sent_csrf(request: Request) -> str | None:
    """The CSRF token an unsafe request carries (header, else form field); None for reads.
    The parsed form is cached by Starlette, so routes read it again for free."""
    if request.method not in _UNSAFE:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        request.state.form = form
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def check_csrf(expected: str, sent: str | None) -> None:
    if sent is None:
        return
    if not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed(
            "This form could not be accepted: its security token is missing or out of date "
            "(for example after signing out and in again in another tab). Nothing was saved. "
            "Go back, reload the page and send it again."
        )


def current_viewer(
    request: Request,
    session: SessionDep,
    sent: Annotated[str | None, Depends(_sent_csrf)],
) -> Viewer:
    """The signed-in user, or :class:`SessionEnded` (the page router sends it to /login)."""
    token = _token_of(request)
    ui_session, user = resolve_session(session=session, token=token, idle=idle_timeout(request))
    assert token is not None
    viewer = Viewer(user=user, ui_session=ui_session, csrf=csrf_token(token))
    check_csrf(viewer.csrf, sent)
    request.state.viewer = viewer
    request.state.workspace_id = user.workspace_id
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def require_admin(viewer: ViewerDep) -> Viewer:
    if not viewer.is_admin:
        raise InsufficientPermissions("Only workspace admins can change this.")
    return viewer


AdminDep = Annotated[Viewer, Depends(require_admin)]


def login_csrf(request: Request) -> str:
    """The CSRF token of the sign-in form (before any session: a double-submit cookie)."""
    existing = request.cookies.get(LOGIN_CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    token = secrets.token_urlsafe(32)
    request.state.set_login_csrf = token
    return token


def set_login_csrf_cookie(request: Request, response: Response) -> None:
    token = getattr(request.state, "set_login_csrf", None)
    if token:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=12 * 3600,
            path="/",
            secure=cookie_secure(request),
            httponly=True,
            samesite="lax",
        )
