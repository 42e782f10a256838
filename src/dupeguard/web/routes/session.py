"""Sign in and sign out."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Request, Response

from ...api.deps import SessionDep
from ...api.ratelimit import RateLimiter
from ...core.errors import RateLimited
from ...services.users import AmbiguousSignIn, SignInFailed, revoke_session, sign_in
from ..auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    ViewerDep,
    clear_session_cookie,
    login_csrf,
    set_login_csrf_cookie,
    set_session_cookie,
)
from ..pages import flash, page_router, redirect, render
from ..security import safe_next

router = page_router()

MESSAGES = {
    "expired": ("Your session expired. Sign in again to continue.", "info"),
    "signed_out": ("You are signed out.", "success"),
}


def _login_page(
    request: Request,
    *,
    email: str = "",
    next_path: str = "",
    ask_workspace: bool = False,
    workspace: str = "",
    status_code: int = 200,
) -> Response:
    request.state.login_csrf = login_csrf(request)
    response = render(
        request,
        "login.html",
        {
            "email": email,
            "next": safe_next(next_path, ""),
            "ask_workspace": ask_workspace,
            "workspace": workspace,
        },
        status_code=status_code,
    )
    set_login_csrf_cookie(request, response)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "", m: str = "") -> Response:
    if m in MESSAGES:
        flash(request, *MESSAGES[m])
    return _login_page(request, next_path=next)


async def _throttle(request: Request) -> None:
    """Sign-in attempts per client address and per e-mail (``DUPEGUARD_LOGIN_RATE_LIMIT``)."""
    limiter: RateLimiter = request.app.state.login_limiter
    form = await request.form()
    email = str(form.get("email", "")).strip().lower()[:254]
    client = request.client.host if request.client else "unknown"
    for identity in (f"ui-login:ip:{client}", f"ui-login:email:{email}"):
        decision = await limiter.hit(identity)
        if not decision.allowed:
            raise RateLimited(
                f"Too many sign-in attempts. Wait {decision.retry_after} seconds and try again."
            )


@router.post("/login", dependencies=[Depends(_throttle)])
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    workspace: Annotated[str, Form(max_length=36)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        flash(request, "The sign-in form had expired. Please sign in again.", "error")
        return _login_page(
            request, email=email, next_path=next, workspace=workspace, status_code=403
        )
    settings = request.app.state.settings
    try:
        signed = sign_in(
            session=session,
            email=email,
            password=password,
            lifetime=timedelta(hours=settings.session_max_hours),
            workspace_id=workspace.strip() or None,
        )
    except SignInFailed:
        flash(request, "Wrong e-mail or password.", "error")
        return _login_page(
            request,
            email=email,
            next_path=next,
            workspace=workspace,
            ask_workspace=bool(workspace),
            status_code=400,
        )
    except AmbiguousSignIn:
        flash(
            request,
            "This e-mail belongs to several workspaces. Enter the workspace ID as well.",
            "error",
        )
        return _login_page(
            request,
            email=email,
            next_path=next,
            workspace=workspace,
            ask_workspace=True,
            status_code=400,
        )
    response = redirect(safe_next(next))
    set_session_cookie(request, response, signed.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    revoke_session(session=session, ui_session_id=viewer.ui_session.id)
    response = redirect("/login?m=signed_out")
    clear_session_cookie(request, response)
    return response
