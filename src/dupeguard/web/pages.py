"""Rendering and the small helpers every page shares.

- :func:`page_router` — an ``APIRouter`` for pages: kept out of the OpenAPI document, and its
  routes turn errors into pages (:class:`PageRoute`): no session → ``/login``; another
  workspace's id or an unknown one (``NotFoundError``) → the 404 page (never 403, so existence
  does not leak); a member on an admin page → 403; a bad CSRF token → 403 with the reason; a
  ``ValidationError`` the route did not handle → 400 with its message.
- :func:`render` — a template with the layout's context (viewer, CSRF token, flash messages,
  nav, a fresh form nonce).
- :func:`flash` — a message for the next page the session shows (after a redirect).
- :func:`redirect` — a 303 to a local path (after a POST: post/redirect/get).
- :func:`run_once` — a POST's work at most once per form nonce: a double-submitted form
  gets "already sent" instead of doing it twice.
- :class:`Pager` — keyset pagination links (``after`` cursors) for list pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse

from ..api.errors import describe_validation
from ..core.errors import (
    DupeguardError,
    InsufficientPermissions,
    NotFoundError,
    RateLimited,
    ValidationError,
)
from ..services.idempotency import Replay, begin, finish, release, request_hash
from ..services.users import SessionEnded, pop_flash, push_flash
from ..store.session import session_scope
from .auth import CSRF_FIELD, CsrfFailed, Viewer
from .security import safe_next

__all__ = [
    "NAV",
    "NONCE_FIELD",
    "PageRoute",
    "Pager",
    "flash",
    "page_router",
    "redirect",
    "render",
    "run_once",
    "templates",
]

TEMPLATES = Path(__file__).with_name("templates")
NONCE_FIELD = "form_nonce"

#: the layout's navigation: (label, path); pages not built yet answer 404 until they are
NAV: tuple[tuple[str, str], ...] = (
    ("Dashboard", "/"),
    ("Records", "/records"),
    ("Entities", "/entities"),
    ("Import", "/imports"),
    ("Forms", "/forms"),
    ("Duplicates", "/duplicates"),
    ("Rules", "/rules"),
    ("Audit log", "/audit"),
)

templates = Jinja2Templates(directory=str(TEMPLATES))


def _csrf_field(request: Request) -> Markup:
    token = _csrf_of(request)
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def _nonce_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(NONCE_FIELD, uuid.uuid4())


def _csrf_of(request: Request) -> str:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is not None:
        return viewer.csrf
    return str(getattr(request.state, "login_csrf", ""))


def _url(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(query)}" if query else path


templates.env.globals["url"] = _url
templates.env.globals["nav"] = NAV


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    """``template`` with ``context`` plus what the layout needs: ``viewer`` (or None),
    ``messages`` (flash, consumed now), ``csrf_field()``, ``nonce_field()``, ``nav``,
    ``current`` (the path, to mark the nav item), ``url(path, **query)``."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    messages = list(getattr(request.state, "messages", []))
    if viewer is not None:
        messages = pop_flash(viewer.ui_session) + messages
    full = {
        "viewer": viewer,
        "messages": messages,
        "csrf_field": lambda: _csrf_field(request),
        "nonce_field": _nonce_field,
        "current": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def flash(request: Request, text: str, level: str = "info") -> None:
    """A message for the next page shown to this session (``level``: info, success, error).
    Without a session (sign-in page) it shows on the page rendered by this request."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is not None:
        push_flash(viewer.ui_session, text, level)
    else:
        request.state.messages = [
            *getattr(request.state, "messages", []),
            {"level": level, "text": text},
        ]


def redirect(path: str) -> RedirectResponse:
    """303 See Other to a local path (anything else goes to ``/``)."""
    return RedirectResponse(safe_next(path), status_code=303)


def run_once(request: Request, viewer: Viewer, work: Callable[[Session], str]) -> Response:
    """Run a POST's ``work(session)`` once per form nonce (``{{ nonce_field() }}`` in the form)
    and redirect to the local path it returns.

    ``work`` gets a fresh session, committed before the nonce is marked done (so it may call
    intake, which starts its own write transaction). A second submission of the same form —
    a double click, a reload, the back button — does nothing and redirects where the first
    one went, with the message "already sent". A failure frees the nonce, so the corrected
    form can be sent again. Without a nonce the work simply runs."""
    form = getattr(request.state, "form", None)
    nonce = form.get(NONCE_FIELD) if form is not None else None
    sessions = request.app.state.sessions
    claim = None
    if isinstance(nonce, str) and nonce:
        try:
            outcome = begin(
                sessions=sessions,
                workspace_id=viewer.workspace_id,
                key=nonce,
                fingerprint=request_hash("POST", request.url.path, "ui-form"),
            )
        except DupeguardError:
            raise ValidationError("This form was already used for another action.") from None
        if isinstance(outcome, Replay):
            flash(request, "This form was already sent; it was not applied a second time.")
            return redirect(str(outcome.body.get("location", "/")))
        claim = outcome
    try:
        with session_scope(sessions) as session:
            location = work(session)
    except BaseException:
        if claim is not None:
            release(sessions=sessions, claim=claim)
        raise
    if claim is not None:
        finish(sessions=sessions, claim=claim, status_code=303, body={"location": location})
    return redirect(location)


@dataclass(frozen=True)
class Pager:
    """Keyset pagination for a list page: pass the service's ``next_cursor`` and the current
    ``after``; ``{{ pager(page) }}`` (templates/_macros.html) shows First / Next links that
    keep the other query parameters."""

    path: str
    params: Mapping[str, Any]
    after: str | None
    next_cursor: str | None

    @property
    def first_url(self) -> str | None:
        return _url(self.path, **self.params) if self.after else None

    @property
    def next_url(self) -> str | None:
        if not self.next_cursor:
            return None
        return _url(self.path, **self.params, after=self.next_cursor)


class PageRoute(APIRoute):
    """Errors of a page become pages (see the module doc)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except SessionEnded as exc:
                return _to_login(request, exc.reason)
            except CsrfFailed as exc:
                return _error_page(request, 403, "Form not accepted", exc.message)
            except NotFoundError:
                return _error_page(
                    request, 404, "Not found", "There is no such page or record here."
                )
            except InsufficientPermissions as exc:
                return _error_page(request, 403, "Not allowed", exc.message)
            except RateLimited as exc:
                return _error_page(request, 429, "Too many attempts", exc.message)
            except ValidationError as exc:
                return _error_page(request, 400, "Cannot do that", exc.message)
            except RequestValidationError as exc:
                message, _ = describe_validation(exc.errors())
                return _error_page(request, 400, "Cannot do that", message)
            return response

        return page_handler


def page_router() -> APIRouter:
    """The router for web pages: ``router = page_router()`` in each module of web/routes."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def _to_login(request: Request, reason: str) -> Response:
    params: dict[str, str] = {}
    if reason in ("expired", "revoked"):
        params["m"] = "expired"
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if target != "/":
            params["next"] = target
    return RedirectResponse(_url("/login", **params), status_code=303)


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        status_code=status,
    )
