"""The error envelope: every failure, whatever raised it, answers in one shape.

::

    {"error": {"code": "validation_error", "message": "…", "details": {…}},
     "request_id": "…"}

:data:`STATUS` maps each code to its HTTP status. Domain errors (:mod:`dupeguard.core.errors`)
carry their code; FastAPI's request validation becomes ``validation_error`` (400, naming the
field in plain words); Starlette's 404/405 become ``not_found``/``method_not_allowed``.
A database that cannot be reached, is read-only or has a full disk answers
``database_unavailable`` / ``database_read_only`` (503, with ``Retry-After``) or
``storage_full`` (507): :func:`database_failure` tells them from bugs, and both the exception
handler and the middleware use it. Unexpected exceptions are turned into ``internal_error`` by
the ASGI middleware (:mod:`dupeguard.api.middleware`), which logs them with the request id and
leaks nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..core.errors import DupeguardError, RateLimited

__all__ = [
    "NUL_MESSAGE",
    "STATUS",
    "DatabaseFailure",
    "ErrorBody",
    "ErrorEnvelope",
    "NulCharacter",
    "PayloadTooLarge",
    "database_failure",
    "database_failure_response",
    "describe_validation",
    "document_conventions",
    "error_response",
    "error_responses",
    "install_error_handlers",
    "internal_error_response",
    "too_large_message",
]

logger = logging.getLogger("dupeguard.api")

STATUS: Mapping[str, int] = {
    "validation_error": 400,
    "invalid_key": 401,
    "insufficient_credits": 402,
    "insufficient_permissions": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "idempotency_conflict": 409,
    "duplicates_detected": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "internal_error": 500,
    "database_unavailable": 503,
    "database_read_only": 503,
    "storage_full": 507,
}
"""Error code → HTTP status, for every code the API answers with."""

_DESCRIPTIONS: Mapping[str, str] = {
    "validation_error": "The request is not valid; `message` names the field.",
    "invalid_key": "Missing, malformed, unknown, revoked or expired API key.",
    "insufficient_credits": "The workspace's credit balance does not cover the call.",
    "insufficient_permissions": "The API key lacks a scope this operation needs.",
    "not_found": "No such resource in this workspace.",
    "method_not_allowed": "The path exists but not with this method.",
    "conflict": "The request conflicts with the current state.",
    "idempotency_conflict": "The Idempotency-Key was used before with a different request.",
    "duplicates_detected": "A duplicate rule blocked the save; `details` lists the matches.",
    "payload_too_large": "The request body is larger than the server accepts.",
    "rate_limited": "Too many requests for this key; see Retry-After.",
    "internal_error": "Unexpected server error; quote the request id when reporting it.",
    "database_unavailable": "The database cannot be reached right now; retry after a while.",
    "database_read_only": "The database refuses writes (read-only file or server).",
    "storage_full": "The database's disk is full; nothing was saved.",
}

_BY_STATUS: Mapping[int, str] = {
    400: "validation_error",
    401: "invalid_key",
    402: "insufficient_credits",
    403: "insufficient_permissions",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
}

INTERNAL_MESSAGE = "internal error: the request failed; quote the request id when reporting it"


class ErrorBody(BaseModel):
    model_config = ConfigDict(title="ErrorBody")

    code: str = Field(description="Stable machine-readable code, e.g. `validation_error`.")
    message: str = Field(description="One plain sentence for a human.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Structured context; depends on the code."
    )


class ErrorEnvelope(BaseModel):
    """What every error response carries."""

    model_config = ConfigDict(
        title="ErrorEnvelope",
        json_schema_extra={
            "example": {
                "error": {
                    "code": "validation_error",
                    "message": "threshold: Input should be less than or equal to 1",
                    "details": {"field": "threshold"},
                },
                "request_id": "4f0c7a1e9d2b4c7f8a6e5d3c2b1a0f9e",
            }
        },
    )

    error: ErrorBody
    request_id: str = Field(description="Same as the X-Request-ID response header.")


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    request_id: str = "",
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope as a response (the middleware adds X-Request-ID and rate-limit headers)."""
    body = {
        "error": {"code": code, "message": message, "details": dict(details or {})},
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def internal_error_response(request_id: str) -> JSONResponse:
    return error_response(500, "internal_error", INTERNAL_MESSAGE, {}, request_id)


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: the envelope under each code's status.

    ``@router.post(..., responses=error_responses("validation_error", "insufficient_credits"))``
    """
    grouped: dict[int, list[str]] = {}
    for code in codes:
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}: add it to dupeguard.api.errors.STATUS")
        grouped.setdefault(STATUS[code], []).append(code)
    return {status: _documented(names) for status, names in sorted(grouped.items())}


def _documented(codes: Sequence[str]) -> dict[str, Any]:
    description = "; ".join(f"`{code}`: {_DESCRIPTIONS.get(code, code)}" for code in codes)
    examples = {
        code: {
            "value": {
                "error": {"code": code, "message": _DESCRIPTIONS.get(code, code), "details": {}},
                "request_id": "4f0c7a1e9d2b4c7f8a6e5d3c2b1a0f9e",
            }
        }
        for code in codes
    }
    return {
        "model": ErrorEnvelope,
        "description": description,
        "content": {"application/json": {"examples": examples}},
    }


# --- the database failing -----------------------------------------------------------------------

RETRY_AFTER = 5  # seconds a client is asked to wait when the database is unavailable


@dataclass(frozen=True)
class DatabaseFailure:
    """What to answer for a database failure that is not a bug."""

    status: int
    code: str
    message: str


_FULL = ("database or disk is full", "no space left on device", "disk full")
_READ_ONLY = ("readonly database", "read-only", "read only")


def database_failure(exc: BaseException) -> DatabaseFailure | None:
    """What to answer for ``exc`` when it means the database is unreachable, read-only or out
    of space (``None`` for anything else: constraint violations and bad SQL are bugs, 500).

    SQLite: ``database or disk is full`` → 507 ``storage_full``; ``attempt to write a readonly
    database`` → 503 ``database_read_only``; any other operational error (cannot open the file,
    locked past the busy timeout, disk I/O error) → 503 ``database_unavailable``. PostgreSQL:
    SQLSTATE 53100 (disk full) → 507, 25006 (read-only transaction, e.g. a standby) → 503
    read-only, class 08 / 57P (connection failures, shutdown) and any operational or interface
    error → 503 ``database_unavailable``; so does the pool timing out.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return DatabaseFailure(
            503, "database_unavailable", "the database is busy: no connection was free in time"
        )
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    text = str(orig or exc).lower()
    sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if sqlstate == "53100" or any(marker in text for marker in _FULL):
        return DatabaseFailure(
            507, "storage_full", "the database's disk is full: nothing was saved"
        )
    if sqlstate == "25006" or (
        isinstance(exc, sa_exc.OperationalError) and any(m in text for m in _READ_ONLY)
    ):
        return DatabaseFailure(
            503, "database_read_only", "the database is read-only: nothing was saved"
        )
    unavailable = (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        or sqlstate.startswith(("08", "57P"))
    )
    if unavailable:
        return DatabaseFailure(
            503, "database_unavailable", "the database is unavailable; retry in a few seconds"
        )
    return None


def database_failure_response(failure: DatabaseFailure, request_id: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER)} if failure.status == 503 else {}
    return error_response(
        failure.status, failure.code, failure.message, {}, request_id, headers=headers
    )


class PayloadTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (see the middleware).

    An HTTPException, so FastAPI's body parsing re-raises it untouched and the handler below
    answers 413 ``payload_too_large``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large_message(limit), headers={"Connection": "close"})
        self.limit = limit


NUL_MESSAGE = "request {where} contains a NUL character (U+0000), which cannot be stored; remove it"


class NulCharacter(HTTPException):
    """Raised from ``receive`` when a JSON body holds an escaped NUL (see the middleware);
    answered as a 400 ``validation_error``."""

    def __init__(self, where: str) -> None:
        super().__init__(400, detail=NUL_MESSAGE.format(where=where))
        self.where = where


def too_large_message(limit: int) -> str:
    mib, kib = 1024 * 1024, 1024
    if limit >= mib and limit % mib == 0:
        size = f"{limit // mib} MiB"
    elif limit >= kib and limit % kib == 0:
        size = f"{limit // kib} KiB"
    else:
        size = f"{limit} bytes"
    return f"request body is larger than the {size} limit"


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


# --- exception handlers ------------------------------------------------------------------------


async def _dupeguard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DupeguardError)
    status = STATUS.get(exc.code)
    if status is None:
        logger.warning("error code %r has no HTTP status; answering 400", exc.code)
        status = 400
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited) and "retry_after" in exc.details:
        headers["Retry-After"] = str(max(1, int(exc.details["retry_after"])))
    return error_response(
        status, exc.code, exc.message, exc.details, _request_id(request), headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message, details = describe_validation(exc.errors())
    return error_response(400, "validation_error", message, details, _request_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    default = _phrase(status)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != default else ""
    headers = dict(exc.headers or {})
    details: dict[str, Any] = {}
    if status >= 500:
        code, message = "internal_error", INTERNAL_MESSAGE
    elif status == 404:
        code, message = "not_found", detail or f"not found: {request.url.path}"
    elif status == 405:
        allowed = _allowed_methods(request, headers.pop("Allow", "") or headers.pop("allow", ""))
        headers["Allow"] = allowed
        code = "method_not_allowed"
        message = detail or f"{request.method} is not allowed on {request.url.path}"
        if allowed:
            message += f"; allowed: {allowed}"
            details["allowed"] = [m.strip() for m in allowed.split(",") if m.strip()]
    elif status == 400 and detail == "There was an error parsing the body":
        code, message = "validation_error", "request body could not be read"
    else:
        code = _BY_STATUS.get(status) or _snake(default or "error")
        message = detail or (default.lower() if default else "request failed")
    if isinstance(exc, PayloadTooLarge):
        details["max_bytes"] = exc.limit
    if isinstance(exc, NulCharacter):
        details["in"] = exc.where
    if isinstance(exc.detail, Mapping):
        details.update(exc.detail)
    return error_response(status, code, message, details, _request_id(request), headers=headers)


def _allowed_methods(request: Request, first: str) -> str:
    """Every method the request's path answers to, for a 405's ``Allow`` header.

    Starlette's router puts only the methods of the *first* route whose path matched in
    ``Allow``; FastAPI has one route per method, so ``GET /v1/forms`` and ``POST /v1/forms``
    are two routes and a 405 would name just one of them.
    """
    path = request.scope.get("path", "")
    by_template: dict[str, set[str]] = {}
    for template, regex, route_methods in _route_methods(request.app.routes):
        if regex.match(path):
            by_template.setdefault(template, set()).update(route_methods)
    if not by_template:
        return ", ".join(sorted({m.strip().upper() for m in first.split(",") if m.strip()}))
    # the most specific templates win: /records/bulk is not /records/{record_id}
    fewest = min(t.count("{") for t in by_template)
    methods = set().union(*(m for t, m in by_template.items() if t.count("{") == fewest))
    return ", ".join(sorted(methods))


def _route_methods(routes: Iterable[Any]) -> Iterator[tuple[str, re.Pattern[str], set[str]]]:
    for route in routes:
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and methods:
            yield str(getattr(route, "path", "")), regex, set(methods)
        # newer FastAPI keeps included routers whole; their routes carry the full path as
        # long as neither the router nor the include adds a prefix (true of dupeguard's)
        original = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if original is not None and not original.prefix and not getattr(context, "prefix", ""):
            yield from _route_methods(original.routes)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _snake(phrase: str) -> str:
    return "_".join(phrase.lower().replace("-", " ").replace("'", "").split())


async def _database_error(request: Request, exc: Exception) -> Response:
    failure = database_failure(exc)
    if failure is None:
        raise exc  # a bug: the middleware logs it and answers internal_error
    logger.warning(
        "%s %s: %s (%s; request_id=%s)",
        request.method,
        request.url.path,
        failure.code,
        str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300],
        _request_id(request),
    )
    return database_failure_response(failure, _request_id(request))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DupeguardError, _dupeguard_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


# --- validation errors in plain words ----------------------------------------------------------

_SOURCES = ("body", "query", "path", "header", "cookie")
_PREFIXES = ("Value error, ", "Assertion failed, ")


def describe_validation(errors: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """A message naming the first offending field, and ``details`` listing them all."""
    if errors and errors[0].get("type") == "json_invalid":
        first = errors[0]
        loc = list(first.get("loc", ()))
        details: dict[str, Any] = {"reason": str(first.get("ctx", {}).get("error", ""))}
        if len(loc) > 1 and isinstance(loc[1], int):
            details["position"] = loc[1]
        return "request body is not valid JSON", details

    simplified = [_simplify(error) for error in errors]
    if not simplified:
        return "the request is not valid", {"field": None, "errors": []}
    first = simplified[0]
    message = f"{_where(first)}: {first['msg']}"
    if len(simplified) > 1:
        more = len(simplified) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return message, {"field": first["field"], "errors": simplified}


def _simplify(error: Mapping[str, Any]) -> dict[str, Any]:
    loc = list(error.get("loc", ()))
    source = loc.pop(0) if loc and loc[0] in _SOURCES else "body"
    msg = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        msg = msg.removeprefix(prefix)
    return {
        "field": _dotted(loc) or None,
        "in": source,
        "loc": loc,
        "msg": msg,
        "type": error.get("type", ""),
    }


def _where(error: Mapping[str, Any]) -> str:
    field, source = error["field"], error["in"]
    if source == "body":
        return field or "request body"
    return f"{source} parameter {field}" if field else f"{source} parameters"


def _dotted(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# --- OpenAPI: document the envelope and the headers every response carries ---------------------

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_HEADERS: Mapping[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "Request id (echoes a client X-Request-ID of 1-64 [A-Za-z0-9._-]).",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window for this key.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Epoch seconds when the window frees up.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (429 only).",
        "schema": {"type": "integer"},
    },
}


def document_conventions(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite FastAPI's generated schema to say what the API really answers (idempotent).

    FastAPI documents request validation as 422 with its own body; the API answers 400 with
    the envelope. Every ``/v1`` operation may also answer 401 (when it needs a key), 413, 429
    and 503 (the database unavailable or read-only), writes 507 (disk full), and every
    response carries X-Request-ID and the rate-limit headers.
    """
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in envelope.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault("ErrorEnvelope", envelope)
    components.setdefault("headers", {}).update({k: dict(v) for k, v in _HEADERS.items()})

    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _openapi_response(["validation_error"]))
            if not path.startswith("/v1"):
                continue
            if operation.get("security"):
                responses.setdefault("401", _openapi_response(["invalid_key"]))
            if method in ("post", "put", "patch"):
                responses.setdefault("413", _openapi_response(["payload_too_large"]))
            responses.setdefault("429", _openapi_response(["rate_limited"]))
            responses.setdefault(
                "503", _openapi_response(["database_unavailable", "database_read_only"])
            )
            if method in ("post", "put", "patch", "delete"):
                responses.setdefault("507", _openapi_response(["storage_full"]))
            for status, response in responses.items():
                names = [n for n in _HEADERS if n != "Retry-After" or status == "429"]
                refs = {n: {"$ref": f"#/components/headers/{n}"} for n in names}
                response.setdefault("headers", {}).update(refs)

    text = json.dumps(schema.get("paths", {}))
    if '"#/components/schemas/HTTPValidationError"' not in text:
        schemas.pop("HTTPValidationError", None)
        if '"#/components/schemas/ValidationError"' not in json.dumps(schemas):
            schemas.pop("ValidationError", None)
    return schema


def _openapi_response(codes: Sequence[str]) -> dict[str, Any]:
    documented = _documented(codes)
    return {
        "description": documented["description"],
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                "examples": documented["content"]["application/json"]["examples"],
            }
        },
    }
