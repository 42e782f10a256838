"""Pure-ASGI middleware: request ids, unexpected errors, request body size.

The chain, outermost first (see :func:`dupeguard.api.app.create_app`)::

    RequestIdMiddleware      id for every request, X-Request-ID on every response
    RateLimitMiddleware      (dupeguard.api.ratelimit) budget per key, X-RateLimit-* headers
    InternalErrorMiddleware  an unexpected exception becomes a 500 envelope, logged with the id
                             (a database that is down, read-only or full: 503/507 instead)
    BodyLimitMiddleware      bodies over the limit become 413 before the app sees them
    NulMiddleware            NUL characters in the path, query or a JSON body become 400
    FastAPI                  routes, dependencies, exception handlers (dupeguard.api.errors)

Being inside the first two, 413 and 500 responses carry every header the others do.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import (
    NUL_MESSAGE,
    NulCharacter,
    PayloadTooLarge,
    database_failure,
    database_failure_response,
    error_response,
    internal_error_response,
    too_large_message,
)

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "BodyLimitMiddleware",
    "InternalErrorMiddleware",
    "NulMiddleware",
    "RequestIdMiddleware",
    "request_id_of",
]

logger = logging.getLogger("dupeguard.api")

DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope) -> str:
    """The id :class:`RequestIdMiddleware` gave this request (``request.state.request_id``)."""
    return str(scope.get("state", {}).get("request_id", ""))


class RequestIdMiddleware:
    """Give every request an id and put it on every response as ``X-Request-ID``.

    A client's own ``X-Request-ID`` is kept when it is 1-64 characters of ``[A-Za-z0-9._-]``
    (so ids can be traced across services without letting arbitrary text into logs);
    otherwise a uuid4 hex is generated.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _CLIENT_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # last resort for a failure in the middleware between here and the app
            if started:
                raise
            await _answer_internal_error(scope, receive, send_with_id, exc)


class _StartTracker:
    """Wraps ``send`` and remembers whether the response has started (then it is too late
    to answer with an error of our own)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class InternalErrorMiddleware:
    """An exception nothing handled: log it with the request id, answer a generic 500.

    Placed inside the request-id and rate-limit middleware so the 500 carries their headers
    (Starlette's own ServerErrorMiddleware sits outside all user middleware). An exception
    after the response has started is re-raised: the server then drops the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _StartTracker(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started:
                raise
            await _answer_internal_error(scope, receive, send, exc)


async def _answer_internal_error(
    scope: Scope, receive: Receive, send: Send, exc: BaseException
) -> None:
    request_id = request_id_of(scope)
    failure = database_failure(exc)
    if failure is not None:  # the database failed where no exception handler could see it
        logger.warning(
            "%s %s: %s (request_id=%s)",
            scope.get("method", ""),
            scope.get("path", ""),
            failure.code,
            request_id,
        )
        await database_failure_response(failure, request_id)(scope, receive, send)
        return
    logger.exception(
        "unhandled error in %s %s (request_id=%s)",
        scope.get("method", ""),
        scope.get("path", ""),
        request_id,
    )
    await internal_error_response(request_id)(scope, receive, send)


class BodyLimitMiddleware:
    """Reject request bodies over ``max_body_size`` bytes with 413 ``payload_too_large``.

    A declared ``Content-Length`` over the limit is answered at once, before the app runs or
    the body is read. Without one (chunked uploads) the bytes are counted as the app reads
    them, and :class:`~dupeguard.api.errors.PayloadTooLarge` is raised from ``receive`` the
    moment they pass the limit.

    ``path_limits`` gives some paths (exact match) a limit of their own, e.g. CSV uploads.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        path_limits: Mapping[str, int] | None = None,
    ) -> None:
        limits = dict(path_limits or {})
        if max_body_size < 0 or any(v < 0 for v in limits.values()):
            raise ValueError("max_body_size must be a non-negative number of bytes")
        self.app = app
        self.max_body_size = max_body_size
        self.path_limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_body_size)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer_too_large(scope, receive, send, limit)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        tracked = _StartTracker(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except PayloadTooLarge:
            # the app let it escape (e.g. read the stream outside FastAPI's body parsing)
            if tracked.started:
                raise
            await _answer_too_large(scope, receive, send, limit)


async def _answer_too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = error_response(
        413,
        "payload_too_large",
        too_large_message(limit),
        {"max_bytes": limit},
        request_id_of(scope),
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


# A JSON escape of U+0000 that is not itself escaped (an even number of backslashes before it)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class NulMiddleware:
    """Refuse NUL (U+0000) in the path, the query string or a JSON body with a 400
    ``validation_error``, on every database alike.

    PostgreSQL cannot store NUL in text or JSON columns (SQLite can), so without this a NUL
    would be saved on one database and be a 500 on the other. JSON bodies are checked as the
    app reads them (the whole body, when its last chunk arrives; bodies are capped by
    :class:`BodyLimitMiddleware`); CSV uploads are checked by the import's own parser.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            where = "path" if "\x00" in scope.get("path", "") else "query"
            await _answer_nul(scope, receive, send, where)
            return
        content_type = Headers(scope=scope).get("content-type", "").lower()
        if "json" not in content_type:
            await self.app(scope, receive, send)
            return

        body = bytearray()

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False) and _JSON_NUL.search(body):
                    raise NulCharacter("body")
            return message

        tracked = _StartTracker(send)
        try:
            await self.app(scope, checked_receive, tracked)
        except NulCharacter:
            if tracked.started:
                raise
            await _answer_nul(scope, receive, send, "body")


async def _answer_nul(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    response = error_response(
        400,
        "validation_error",
        NUL_MESSAGE.format(where=where),
        {"in": where},
        request_id_of(scope),
    )
    await response(scope, receive, send)
