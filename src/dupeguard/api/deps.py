"""Typed dependencies for routes.

::

    @router.get("/v1/workspace")
    def workspace(session: SessionDep, key: KeyDep) -> ...: ...

    @router.post("/v1/ai/detect-duplicates")
    def detect(session: SessionDep, key: Annotated[ApiKey, Depends(require("write:ai"))]): ...

The key says who is calling; it never trusts a workspace id from the path or body. Services
take ``workspace_id=key.workspace_id`` and scope every query by it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import ValidationError
from ..services.keys import SCOPES, authenticate, require_scope
from ..store.session import session_scope
from ..store.tables import ApiKey

__all__ = [
    "Admin",
    "AllowSave",
    "KeyDep",
    "Reader",
    "SessionDep",
    "Writer",
    "actor_of",
    "allow_save",
    "current_key",
    "get_session",
    "region_of",
    "require",
]


def get_session(request: Request) -> Iterator[Session]:
    """A session per request: committed when the route returns, rolled back if it raises.

    Used with ``scope="function"``, so the commit happens *before* the response is sent: a
    commit that fails becomes an error response, never a 2xx for work that was not saved.
    (A route streaming its response must therefore not lazy-load while streaming.)
    """
    factory: sessionmaker[Session] = request.app.state.sessions
    with session_scope(factory) as current:
        yield current


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# Declares the scheme in OpenAPI (the "Authorize" button in /docs); authentication itself
# reads the raw header so every failure gets its own invalid_key message.
logger = logging.getLogger("dupeguard.api")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="wbk_…",
    description="An API key: `Authorization: Bearer wbk_…`.",
)


def current_key(
    request: Request,
    session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The calling API key, or InvalidKey (401) when missing, malformed, unknown, revoked or
    expired."""
    key = authenticate(session=session, authorization=request.headers.get("authorization"))
    request.state.key_id = key.id
    request.state.workspace_id = key.workspace_id
    # who did what, for the operator's log: the key's id and public prefix, never the key
    logger.info(
        "api key %s (%s) of workspace %s: %s %s",
        key.id,
        key.prefix,
        key.workspace_id,
        request.method,
        request.url.path,
    )
    return key


KeyDep = Annotated[ApiKey, Depends(current_key)]


@cache
def require(scope: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency: the calling key, which must hold ``scope`` (``admin`` holds them all)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")

    def dependency(key: KeyDep) -> ApiKey:
        require_scope(key, scope)
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


def actor_of(key: ApiKey) -> str:
    """Who did it, as the activity feed and the audit log name an API key (never the key)."""
    return f"key:{key.prefix}"


def region_of(request: Request) -> str:
    """The default phone region of the server's settings."""
    return str(request.app.state.settings.default_region)


DUPLICATE_RULE_HEADER = "X-Duplicate-Rule-Header"


def allow_save(
    header: Annotated[
        str | None,
        Header(
            alias=DUPLICATE_RULE_HEADER,
            max_length=100,
            description="`allowSave=true` saves despite a duplicate rule that blocks, for this "
            "call only (audited as an override); `allowSave=false` is the default.",
        ),
    ] = None,
) -> bool:
    """Whether ``X-Duplicate-Rule-Header: allowSave=true`` lifts blocking duplicate rules for
    this call. Key and value are case-insensitive, spaces around them are ignored; anything
    else is a ``validation_error``."""
    if header is None:
        return False
    name, sep, value = header.partition("=")
    flag = value.strip().lower()
    if not sep or name.strip().lower() != "allowsave" or flag not in ("true", "false"):
        raise ValidationError(
            f"{DUPLICATE_RULE_HEADER}: expected allowSave=true or allowSave=false, "
            f"got {header.strip()[:50]!r}",
            details={"field": DUPLICATE_RULE_HEADER, "in": "header"},
        )
    return flag == "true"


AllowSave = Annotated[bool, Depends(allow_save)]
