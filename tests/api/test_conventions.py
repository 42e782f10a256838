"""API conventions (SPEC "API conventions"), against the real app served by uvicorn.

Request ids, the error envelope for every code, authentication and scopes, rate limits (in
memory and shared through Redis), body limits, the session per request, OpenAPI and docs, and
``dupeguard serve``. A probe router is added to each test's app instance only.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from dupeguard.api.app import create_app
from dupeguard.api.deps import KeyDep, SessionDep, require
from dupeguard.api.errors import STATUS, error_responses
from dupeguard.core import errors as core_errors
from dupeguard.services.keys import create_key, revoke_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.settings import Settings
from dupeguard.store.session import session_scope
from dupeguard.store.tables import ApiKey, Workspace

from .conftest import LiveServer, WorkspaceKey

# --- a probe router, included only in the apps these tests start ---------------------------

probe = APIRouter(prefix="/v1/_probe")


class ProbeBody(BaseModel):
    entity_type: Literal["contact", "company", "deal"]
    threshold: float = Field(0.85, ge=0, le=1)
    limit: int = Field(100, ge=1, le=1000)


class DuplicatesDetected(core_errors.DupeguardError):
    code = "duplicates_detected"


ERRORS: dict[str, type[core_errors.DupeguardError]] = {
    "validation_error": core_errors.ValidationError,
    "invalid_key": core_errors.InvalidKey,
    "insufficient_credits": core_errors.InsufficientCredits,
    "insufficient_permissions": core_errors.InsufficientPermissions,
    "not_found": core_errors.NotFoundError,
    "conflict": core_errors.ConflictError,
    "idempotency_conflict": core_errors.IdempotencyConflict,
    "duplicates_detected": DuplicatesDetected,
    "rate_limited": core_errors.RateLimited,
}


@probe.get("/ok")
def probe_ok(key: KeyDep) -> dict[str, str]:
    return {"workspace_id": key.workspace_id}


@probe.post("/ai", responses=error_responses("insufficient_permissions", "insufficient_credits"))
def probe_ai(
    body: ProbeBody, key: Annotated[ApiKey, Depends(require("write:ai"))]
) -> dict[str, Any]:
    return {"entity_type": body.entity_type, "threshold": body.threshold}


@probe.get("/items")
def probe_items(limit: Annotated[int, Query(ge=1, le=10)] = 5) -> dict[str, int]:
    return {"limit": limit}


@probe.get("/raise/{code}")
def probe_raise(code: str) -> None:
    raise ERRORS[code](f"probe {code}", details={"probe": code})


@probe.get("/boom")
def probe_boom() -> None:
    raise RuntimeError("connection string postgresql://admin:hunter2@db")


@probe.post("/echo")
async def probe_echo(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@probe.post("/workspaces")
def probe_workspaces(session: SessionDep, name: str, fail: bool = False) -> dict[str, str]:
    created = create_workspace(session=session, name=name)
    if fail:
        raise core_errors.ConflictError("failing after the write")
    return {"id": created.id}


pytestmark = pytest.mark.live_server(routers=[probe])

# --- helpers -------------------------------------------------------------------------------

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, (name, response.status_code, response.url)
        assert int(response.headers[name]) >= 0


def unknown_key() -> str:
    return "wbk_" + secrets.token_urlsafe(32)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.live_server(max_body_size=1024, rate_limit="30/minute")
def test_every_response_carries_a_request_id_and_rate_headers(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    ws = workspace()
    responses = {
        200: client.get("/v1/_probe/ok", headers=ws.headers),
        404: client.get("/v1/no-such-thing", headers=ws.headers),
        405: client.delete("/v1/_probe/ok", headers=ws.headers),
        400: client.post("/v1/_probe/ai", json={"threshold": 3}, headers=ws.headers),
        401: client.get("/v1/_probe/ok"),
        413: client.post("/v1/_probe/echo", content=b"x" * 2048, headers=ws.headers),
        500: client.get("/v1/_probe/boom", headers=ws.headers),
    }
    flood = workspace(workspace_id=ws.workspace_id)
    for _ in range(30):
        client.get("/v1/_probe/ok", headers=flood.headers)
    responses[429] = client.get("/v1/_probe/ok", headers=flood.headers)

    ids = set()
    for status, response in responses.items():
        assert response.status_code == status, (status, response.text)
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
        assert_rate_headers(response)
        ids.add(response.headers["X-Request-ID"])
        if status != 200:
            assert response.json()["request_id"] == response.headers["X-Request-ID"]
    assert len(ids) == len(responses)
    assert responses[405].json()["error"]["code"] == "method_not_allowed"
    assert "GET" in responses[405].headers["Allow"]


def test_request_ids_outside_v1_and_for_unknown_paths(client: httpx.Client) -> None:
    for path in ("/openapi.json", "/nowhere"):
        response = client.get(path)
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
        assert not any(name in response.headers for name in RATE_HEADERS)
    assert_envelope(client.get("/nowhere"), 404, "not_found")


def test_a_client_request_id_is_echoed_when_well_formed(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    ws = workspace()
    mine = "crm-sync.42_" + uuid.uuid4().hex[:8]
    ok = client.get("/v1/_probe/ok", headers={**ws.headers, "X-Request-ID": mine})
    assert ok.headers["X-Request-ID"] == mine
    failed = client.get("/v1/_probe/ok", headers={"X-Request-ID": mine})
    assert assert_envelope(failed, 401, "invalid_key")["request_id"] == mine

    for bad in ("has spaces", "x" * 65, "semi;colon", "\xfcn\xefcode".encode("latin-1")):
        response = client.get("/v1/_probe/ok", headers={**ws.headers, "X-Request-ID": bad})
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"]), bad


# --- the envelope --------------------------------------------------------------------------


def test_each_domain_error_has_its_status_and_envelope(client: httpx.Client) -> None:
    expected = {
        "validation_error": 400,
        "invalid_key": 401,
        "insufficient_credits": 402,
        "insufficient_permissions": 403,
        "not_found": 404,
        "conflict": 409,
        "idempotency_conflict": 409,
        "duplicates_detected": 409,
        "rate_limited": 429,
    }
    for code, status in expected.items():
        assert STATUS[code] == status
        body = assert_envelope(client.get(f"/v1/_probe/raise/{code}"), status, code)
        assert body["error"]["message"] == f"probe {code}"
        assert body["error"]["details"] == {"probe": code}


def test_unexpected_errors_are_a_generic_500_logged_with_the_request_id(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/v1/_probe/boom", headers={"X-Request-ID": "trace-500"})
    body = assert_envelope(response, 500, "internal_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert body["error"]["details"] == {}
    logged = [r for r in caplog.records if "trace-500" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


def test_validation_errors_name_the_field_in_plain_words(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    ws = workspace(scopes=("write:ai",))
    body = assert_envelope(
        client.post(
            "/v1/_probe/ai", json={"entity_type": "contact", "threshold": 2}, headers=ws.headers
        ),
        400,
        "validation_error",
    )
    assert body["error"]["message"] == "threshold: Input should be less than or equal to 1"
    assert body["error"]["details"]["field"] == "threshold"
    [error] = body["error"]["details"]["errors"]
    assert error["loc"] == ["threshold"] and error["in"] == "body"
    assert error["msg"] == "Input should be less than or equal to 1"

    two = client.post("/v1/_probe/ai", json={"threshold": -1}, headers=ws.headers).json()
    assert two["error"]["message"].startswith("entity_type: Field required")
    assert two["error"]["message"].endswith("(and 1 more problem)")
    assert [e["field"] for e in two["error"]["details"]["errors"]] == ["entity_type", "threshold"]

    broken = client.post(
        "/v1/_probe/ai",
        content=b'{"entity_type": "contact",',
        headers={**ws.headers, "Content-Type": "application/json"},
    )
    assert assert_envelope(broken, 400, "validation_error")["error"]["message"] == (
        "request body is not valid JSON"
    )

    query = assert_envelope(client.get("/v1/_probe/items?limit=50"), 400, "validation_error")
    assert query["error"]["message"] == (
        "query parameter limit: Input should be less than or equal to 10"
    )
    assert query["error"]["details"]["field"] == "limit"


# --- authentication and scopes -------------------------------------------------------------


def test_missing_malformed_unknown_revoked_and_expired_keys_are_401(
    client: httpx.Client, live_server: LiveServer, workspace: Callable[..., WorkspaceKey]
) -> None:
    revoked = workspace()
    expired = workspace(expires_at=datetime.now(UTC) + timedelta(hours=1))
    with session_scope(live_server.sessions) as session:
        revoke_key(session=session, workspace_id=revoked.workspace_id, key_id=revoked.key_id)
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == expired.key_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    cases: dict[str, tuple[dict[str, str], str]] = {
        "missing": ({}, "missing"),
        "not bearer": ({"Authorization": f"Basic {revoked.api_key}"}, "malformed"),
        "no prefix": (bearer("sk_live_abcdef"), "malformed"),
        "unknown": (bearer(unknown_key()), "unknown"),
        "revoked": (revoked.headers, "revoked"),
        "expired": (expired.headers, "expired"),
    }
    for case, (headers, word) in cases.items():
        response = client.get("/v1/_probe/ok", headers=headers)
        body = assert_envelope(response, 401, "invalid_key")
        assert word in body["error"]["message"], case
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_authentication_comes_before_body_validation(client: httpx.Client) -> None:
    response = client.post("/v1/_probe/ai", json={"threshold": "high"})
    assert_envelope(response, 401, "invalid_key")


def test_a_missing_scope_is_403_and_admin_holds_every_scope(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    body = {"entity_type": "contact", "threshold": 0.9}
    reader = workspace(scopes=("read", "write"))
    denied = client.post("/v1/_probe/ai", json=body, headers=reader.headers)
    assert (
        "write:ai" in assert_envelope(denied, 403, "insufficient_permissions")["error"]["message"]
    )
    for scopes in (("write:ai",), ("admin",)):
        allowed = client.post("/v1/_probe/ai", json=body, headers=workspace(scopes=scopes).headers)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {"entity_type": "contact", "threshold": 0.9}


def test_the_key_decides_the_workspace(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    a, b = workspace(name="A"), workspace(name="B")
    assert client.get("/v1/_probe/ok", headers=a.headers).json() == {"workspace_id": a.workspace_id}
    assert client.get("/v1/_probe/ok", headers=b.headers).json() == {"workspace_id": b.workspace_id}


# --- rate limits ---------------------------------------------------------------------------


@pytest.mark.live_server(rate_limit="3/minute")
def test_the_fourth_request_in_a_minute_is_429_with_retry_after(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    ws = workspace()
    before = time.time()
    remaining = []
    for _ in range(3):
        response = client.get("/v1/_probe/ok", headers=ws.headers)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert "Retry-After" not in response.headers
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    refused = client.get("/v1/_probe/ok", headers=ws.headers)
    body = assert_envelope(refused, 429, "rate_limited")
    assert_rate_headers(refused)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert math.floor(before) <= reset <= math.ceil(time.time()) + 60
    assert body["error"]["details"]["retry_after"] == retry_after
    # refused requests are not counted, and every /v1 path shares the key's budget
    assert client.get("/v1/_probe/items", headers=ws.headers).status_code == 429


@pytest.mark.live_server(rate_limit="2/minute")
def test_each_key_has_its_own_budget_and_invalid_keys_are_limited_too(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    first, second = workspace(), workspace()
    for _ in range(2):
        assert client.get("/v1/_probe/ok", headers=first.headers).status_code == 200
    assert client.get("/v1/_probe/ok", headers=first.headers).status_code == 429
    for _ in range(2):
        assert client.get("/v1/_probe/ok", headers=second.headers).status_code == 200
    # a second key of the same workspace is a separate budget too
    third = workspace(workspace_id=first.workspace_id)
    assert client.get("/v1/_probe/ok", headers=third.headers).status_code == 200

    guess = bearer(unknown_key())
    assert [client.get("/v1/_probe/ok", headers=guess).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]
    # no key at all: limited by client address, apart from every key
    assert [client.get("/v1/_probe/items").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.live_server(rate_limit="1/minute")
def test_docs_and_openapi_are_not_rate_limited(client: httpx.Client) -> None:
    for _ in range(3):
        for path in ("/openapi.json", "/docs"):
            response = client.get(path)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers


REDIS_URL = os.environ.get("DUPEGUARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    finally:
        client.close()
    return REDIS_URL


def test_two_app_instances_share_one_budget_through_redis(
    start_server: Callable[..., LiveServer], redis_url: str
) -> None:
    one = start_server(rate_limit="4/minute", redis_url=redis_url, routers=[probe])
    two = start_server(rate_limit="4/minute", redis_url=redis_url, routers=[probe])
    with session_scope(one.sessions) as session:
        created = create_workspace(session=session, name="Shared")
        _, plaintext = create_key(session=session, workspace_id=created.id, scopes=["read"])
    headers = bearer(plaintext)
    statuses, remaining = [], []
    for index in range(5):
        server = (one, two)[index % 2]
        response = httpx.get(f"{server.url}/v1/_probe/ok", headers=headers)
        statuses.append(response.status_code)
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert statuses == [200, 200, 200, 200, 429]
    assert remaining == ["3", "2", "1", "0", "0"]
    # the other instance agrees
    assert httpx.get(f"{one.url}/v1/_probe/ok", headers=headers).status_code == 429


def test_an_unreachable_redis_falls_back_to_counting_in_process_with_a_warning(
    start_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe_socket:  # a port with nobody listening
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = start_server(rate_limit="2/minute", redis_url=f"redis://127.0.0.1:{port}/0")
    statuses = []
    for _ in range(3):
        response = httpx.get(f"{server.url}/v1/no-such-path")
        statuses.append(response.status_code)
        assert_rate_headers(response)
    assert statuses == [404, 404, 429]  # served, never 5xx, and limited by this process alone
    warnings = [r for r in caplog.records if "rate limit storage unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per request


# --- request bodies ------------------------------------------------------------------------


def _chunks(total: int, size: int = 256) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.live_server(max_body_size=1024)
def test_bodies_over_the_limit_are_413_declared_or_streamed(
    client: httpx.Client, workspace: Callable[..., WorkspaceKey]
) -> None:
    ws = workspace()
    assert client.post("/v1/_probe/echo", content=b"x" * 1024).json() == {"size": 1024}
    assert client.post("/v1/_probe/echo", content=_chunks(1024)).json() == {"size": 1024}

    declared = client.post("/v1/_probe/echo", content=b"x" * 1025)
    body = assert_envelope(declared, 413, "payload_too_large")
    assert body["error"]["details"] == {"max_bytes": 1024}
    assert "1 KiB" in body["error"]["message"]
    assert_rate_headers(declared)

    streamed = client.post("/v1/_probe/echo", content=_chunks(4096))
    assert "content-length" not in streamed.request.headers
    assert_envelope(streamed, 413, "payload_too_large")

    parsed = client.post(
        "/v1/_probe/ai",
        content=_chunks(4096),
        headers={**ws.headers, "Content-Type": "application/json"},
    )
    assert_envelope(parsed, 413, "payload_too_large")
    # the connection was closed after the 413; the client carries on with a new one
    assert client.get("/v1/_probe/ok", headers=ws.headers).status_code == 200


# --- the session per request ---------------------------------------------------------------


def test_a_request_commits_on_success_and_rolls_back_on_error(
    client: httpx.Client, live_server: LiveServer
) -> None:
    assert client.post("/v1/_probe/workspaces", params={"name": "Kept"}).status_code == 200
    failed = client.post("/v1/_probe/workspaces", params={"name": "Dropped", "fail": "true"})
    assert_envelope(failed, 409, "conflict")
    with session_scope(live_server.sessions) as session:
        names = set(session.scalars(select(Workspace.name)))
    assert "Kept" in names and "Dropped" not in names


# --- OpenAPI and docs ----------------------------------------------------------------------


def test_openapi_and_docs(client: httpx.Client) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    schema = spec.json()
    assert schema["info"]["title"] == "dupeguard"
    assert schema["info"]["version"]
    assert "ErrorEnvelope" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"

    ai = schema["paths"]["/v1/_probe/ai"]["post"]
    assert "422" not in ai["responses"]
    for status in ("400", "401", "402", "403", "413", "429"):
        ref = ai["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorEnvelope", status
    assert "Retry-After" in ai["responses"]["429"]["headers"]
    assert "X-Request-ID" in ai["responses"]["200"]["headers"]

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower() and "/openapi.json" in docs.text


def test_test_only_routes_do_not_leak_into_the_product_app(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'product.db'}"))
    try:
        paths = {getattr(route, "path", "") for route in app.routes}
        assert not any("_probe" in path for path in paths)
        assert not any("_probe" in path for path in app.openapi()["paths"])
        assert {"/openapi.json", "/docs"} <= paths
        for name in ("engine", "sessions", "settings", "limiter"):
            assert getattr(app.state, name) is not None
    finally:
        app.state.engine.dispose()


def test_error_responses_rejects_unknown_codes() -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        error_responses("not_a_code")
    documented = error_responses("conflict", "idempotency_conflict", "rate_limited")
    assert sorted(documented) == [409, 429]
    assert "idempotency_conflict" in documented[409]["description"]


# --- dupeguard serve -----------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "DUPEGUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        **env,
    }
    environment.pop("DUPEGUARD_REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dupeguard.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_serve_migrates_prints_the_url_and_answers(tmp_path: Path) -> None:
    process = _cli(tmp_path, "serve", "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        url = match.group(0)
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"{url}/v1/_nothing_here", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "dupeguard serve did not answer"
                time.sleep(0.05)
        assert_envelope(response, 404, "not_found")
        assert_rate_headers(response)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert (tmp_path / "serve.db").exists()


def test_serve_reports_bad_settings_and_busy_ports_in_one_line(tmp_path: Path) -> None:
    bad = _cli(tmp_path, "serve", DUPEGUARD_RATE_LIMIT="lots")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "DUPEGUARD_RATE_LIMIT" in err

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = _cli(tmp_path, "serve", "--port", str(port))
        _, err = taken.communicate(timeout=60)
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err
