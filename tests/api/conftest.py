"""API fixtures: the real app, served by uvicorn on a loopback port, on SQLite and PostgreSQL.

``live_server`` runs ``create_app()`` against the database of the ``db_url`` fixture (so every
API test runs once per database) and yields a :class:`LiveServer` with ``.url``, ``.app`` and
``.sessions``. Override what it is started with, closest wins::

    pytestmark = pytest.mark.live_server(routers=[probe_router])   # module-wide

    @pytest.mark.live_server(rate_limit="3/minute")                # one test
    def test_limit(client, workspace): ...

(keyword arguments of :func:`start_server`'s factory: ``rate_limit``, ``redis_url``,
``max_body_size``, ``routers``, and any other :class:`Settings` field such as
``webhook_allow_private`` or ``form_rate_limit``; an indirect ``live_server`` parameter, a
dict, works too.)
More servers on the same database: the ``start_server`` factory.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.api.app import create_app
from dupeguard.api.middleware import DEFAULT_MAX_BODY_SIZE
from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.settings import Settings
from dupeguard.store.session import session_scope

DEFAULT_SCOPES = ("read", "write", "write:ai")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "live_server(**overrides): start the test's live_server with these create_app settings "
        "(rate_limit, redis_url, max_body_size, routers)",
    )


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    sessions: sessionmaker[Session]
    settings: Settings
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()
        assert not self._thread.is_alive(), "the test server did not stop"


def _serve(app: FastAPI, settings: Settings) -> LiveServer:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    live = LiveServer(
        url=f"http://127.0.0.1:{port}",
        app=app,
        sessions=app.state.sessions,
        settings=settings,
        _server=server,
        _thread=thread,
        _socket=sock,
    )
    thread.start()
    deadline = time.monotonic() + 20
    while True:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the test server failed to start (see the log above)")
        if server.started:
            try:
                if httpx.get(f"{live.url}/openapi.json", timeout=2).status_code == 200:
                    return live
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            live.stop()
            raise RuntimeError("the test server did not answer within 20 s")
        time.sleep(0.02)


@pytest.fixture
def start_server(db_url: str) -> Iterator[Callable[..., LiveServer]]:
    """A factory: ``start_server(rate_limit=…, redis_url=…, max_body_size=…, routers=[…])``
    starts another app (own process state, same database); all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(
        *,
        rate_limit: str = "600/minute",
        redis_url: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        routers: Iterable[APIRouter] = (),
        **more_settings: Any,
    ) -> LiveServer:
        settings = Settings(
            database_url=db_url, rate_limit=rate_limit, redis_url=redis_url, **more_settings
        )
        app = create_app(settings, max_body_size=max_body_size)
        for router in routers:  # test-only routes: this app instance only
            app.include_router(router)
        live = _serve(app, settings)
        servers.append(live)
        return live

    yield start
    for live in reversed(servers):
        live.stop()


@pytest.fixture
def live_server(
    request: pytest.FixtureRequest, start_server: Callable[..., LiveServer]
) -> LiveServer:
    overrides: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("live_server"))):  # closest last
        overrides.update(marker.kwargs)
    overrides.update(getattr(request, "param", None) or {})
    return start_server(**overrides)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


@dataclass(frozen=True)
class WorkspaceKey:
    workspace_id: str
    key_id: str
    api_key: str
    scopes: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def workspace(live_server: LiveServer) -> Callable[..., WorkspaceKey]:
    """A factory: a new workspace and API key (plaintext included), made through the services.

    ``workspace(scopes=("read",), credits=50)``; ``workspace(workspace_id=w.workspace_id,
    scopes=("admin",))`` adds another key to an existing workspace.
    """

    def make(
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        credits: int = 100,
        name: str = "Acme",
        expires_at: datetime | None = None,
        workspace_id: str | None = None,
    ) -> WorkspaceKey:
        with session_scope(live_server.sessions) as session:
            if workspace_id is None:
                workspace_id = create_workspace(session=session, name=name, credits=credits).id
            key, plaintext = create_key(
                session=session, workspace_id=workspace_id, scopes=scopes, expires_at=expires_at
            )
            return WorkspaceKey(workspace_id, key.id, plaintext, tuple(key.scopes))

    return make
