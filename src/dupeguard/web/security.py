"""Security headers for the web UI, and the one rule for redirect targets.

:class:`SecurityHeadersMiddleware` puts on every response outside the API (``/v1``) and its
documentation (``/docs``, ``/redoc``, ``/openapi.json``, whose Swagger page needs inline script):

- ``Content-Security-Policy``: scripts, styles, images, fonts and form targets from this origin
  only; no inline script or style, no plugins, no ``<base>``, ``frame-ancestors 'none'``;
- ``X-Frame-Options: DENY`` (older browsers), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin``;
- ``Cache-Control: no-store`` on pages (not on ``/static``), so a signed-out browser's back
  button shows no workspace data.

``nosniff`` goes on API responses too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeadersMiddleware", "is_ui_path", "safe_next"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
_NOT_UI = ("/v1", "/docs", "/redoc", "/openapi.json")


def is_ui_path(path: str) -> bool:
    return not any(path == p or path.startswith(p + "/") for p in _NOT_UI)


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (``/records?…``), else ``default``.

    Refuses absolute URLs, scheme-relative ``//host`` and ``/\\host`` (browsers read both as
    another host), backslashes and control characters: no open redirect after sign-in."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return default
    if target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        ui = is_ui_path(path)
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if ui:
                    headers["Content-Security-Policy"] = CSP
                    headers["X-Frame-Options"] = "DENY"
                    headers["Referrer-Policy"] = "same-origin"
                    headers["Cross-Origin-Opener-Policy"] = "same-origin"
                    if not static:
                        headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
