"""The FastAPI application: ``create_app()`` builds one; nothing happens at import time.

Creating the app connects to the database and migrates it to the latest schema, so a server
never answers against an old schema. ``app.state`` holds ``settings``, ``engine``, ``sessions``
(the sessionmaker), ``limiter``, ``form_limiter`` (public form submissions),
``login_limiter`` (web UI sign-ins), ``webhook_worker`` (started with the server unless
``DUPEGUARD_WEBHOOK_WORKER=false``) and ``job_sweeper`` (marks duplicate jobs of a dead server
``interrupted``); on shutdown the threads stop, Redis is closed and the engine disposed. The
web UI (``dupeguard.web``) is mounted on the same app: pages at ``/``, ``/login`` …, files
under ``/static``; requests with a Host header outside ``DUPEGUARD_ALLOWED_HOSTS`` get 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..services import crypto
from ..services.duplicate_jobs import JobSweeper
from ..services.import_csv import MAX_FILE_BYTES
from ..services.setup import prepare
from ..services.webhook_delivery import WebhookWorker
from ..settings import Settings, get_settings
from ..store.checkpoint import WalCheckpointer
from ..store.session import make_engine
from ..web import SecurityHeadersMiddleware
from ..web import install as install_web
from ..web.routes.imports import UPLOAD_PATH, UPLOAD_SLACK
from .errors import document_conventions, install_error_handlers
from .middleware import (
    DEFAULT_MAX_BODY_SIZE,
    BodyLimitMiddleware,
    InternalErrorMiddleware,
    NulMiddleware,
    RequestIdMiddleware,
)
from .openapi_links import add_links
from .ratelimit import RateLimiter, RateLimitMiddleware
from .routes import ROUTERS
from .routes.imports import IMPORT_PATH

__all__ = ["DupeguardAPI", "create_app"]

DESCRIPTION = """Find, prevent and merge duplicate CRM records.

Authenticate with `Authorization: Bearer wbk_…`. Every response carries `X-Request-ID` and,
under `/v1`, `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a 429 also
carries `Retry-After`. Errors share one envelope:
`{"error": {"code", "message", "details"}, "request_id"}`.
"""


class DupeguardAPI(FastAPI):
    """FastAPI whose OpenAPI document describes the real error and header conventions, and
    links each create operation to the operations that take the id it answers."""

    def openapi(self) -> dict[str, Any]:
        return add_links(document_conventions(super().openapi()))


def create_app(
    settings: Settings | None = None,
    *,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    import_max_bytes: int = MAX_FILE_BYTES,
) -> FastAPI:
    """A ready application for ``settings`` (default: from the environment).

    ``max_body_size`` caps request bodies in bytes (default 10 MiB; larger is 413);
    ``import_max_bytes`` caps CSV uploads to ``POST /v1/imports`` and the web UI's upload form
    instead (default 50 MiB).
    """
    settings = settings if settings is not None else get_settings()
    if max_body_size < 0 or import_max_bytes < 0:
        raise ValueError("max_body_size must be a non-negative number of bytes")
    crypto.configure(settings.encryption_key)
    limiter = RateLimiter.from_settings(settings)
    form_limiter = RateLimiter(settings.form_rate_limit, settings.redis_url, name="form")
    engine = make_engine(settings.database_url, background_checkpoints=True)
    try:
        sessions = prepare(engine, region=settings.default_region)
    except BaseException:
        engine.dispose()
        raise
    worker = WebhookWorker(sessions, allow_private=settings.webhook_allow_private)
    sweeper = JobSweeper(sessions)
    checkpointer = WalCheckpointer.for_engine(engine)
    login_limiter: RateLimiter | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.webhook_worker:
            worker.start()
        sweeper.start()
        if checkpointer is not None:
            checkpointer.start()
        try:
            yield
        finally:
            if checkpointer is not None:
                await asyncio.to_thread(checkpointer.stop)
            await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(sweeper.stop)
            await limiter.aclose()
            await form_limiter.aclose()
            if login_limiter is not None:
                await login_limiter.aclose()
            engine.dispose()

    app = DupeguardAPI(
        title="dupeguard",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        lifespan=lifespan,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=_hosts(settings.allowed_hosts)),
            Middleware(RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(RateLimitMiddleware, limiter=limiter),
            Middleware(InternalErrorMiddleware),
            Middleware(
                BodyLimitMiddleware,
                max_body_size=max_body_size,
                path_limits={
                    IMPORT_PATH: import_max_bytes,
                    # the web UI's upload form: the file plus its other form parts
                    UPLOAD_PATH: import_max_bytes + UPLOAD_SLACK,
                },
            ),
            Middleware(NulMiddleware),
        ],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.limiter = limiter
    app.state.form_limiter = form_limiter
    app.state.webhook_worker = worker
    app.state.job_sweeper = sweeper
    app.state.max_body_size = max_body_size
    app.state.import_max_bytes = import_max_bytes
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    login_limiter = install_web(app, settings)  # the web UI: pages, /static, sign-in limits
    return app


def _hosts(value: str) -> list[str]:
    """``DUPEGUARD_ALLOWED_HOSTS`` as a list (``*``: any Host header)."""
    hosts = [h.strip() for h in value.split(",") if h.strip()]
    return hosts or ["*"]
