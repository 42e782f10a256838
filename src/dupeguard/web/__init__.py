"""The web UI: server-rendered pages (Jinja2) over the services, with a little JavaScript for
progressive enhancement. See docs/UI.md for the conventions.

:func:`install` mounts it on the API's app: the page routers, ``/static``, the sign-in rate
limiter (``app.state.login_limiter``) and an HTML 404 page for unknown paths outside the API
when the client accepts HTML (a browser); other clients keep the API's JSON envelope.
The security headers and the Host check are middleware added by ``create_app``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..api.ratelimit import RateLimiter
from ..settings import Settings
from .pages import render
from .routes import ROUTERS
from .security import SecurityHeadersMiddleware, is_ui_path

__all__ = ["STATIC", "SecurityHeadersMiddleware", "install"]

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI, settings: Settings) -> RateLimiter:
    """Add the UI to ``app``; returns the sign-in limiter (close it on shutdown)."""
    limiter = RateLimiter(settings.login_rate_limit, settings.redis_url, name="sign-in")
    app.state.login_limiter = limiter
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    api_handler = app.exception_handlers.get(HTTPException, http_exception_handler)

    async def not_found(request: Request, exc: Exception) -> Response:
        if (
            isinstance(exc, HTTPException)
            and exc.status_code == 404
            and is_ui_path(request.url.path)
            and not request.url.path.startswith("/static/")
            and "text/html" in request.headers.get("accept", "")
        ):
            return render(
                request,
                "error.html",
                {"title": "Not found", "message": "There is no such page here.", "status": 404},
                status_code=404,
            )
        response = api_handler(request, exc)
        return await response if hasattr(response, "__await__") else response

    app.add_exception_handler(HTTPException, not_found)
    return limiter
