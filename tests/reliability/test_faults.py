"""The database failing under a running server: PostgreSQL going away and coming back, its
connections killed, a read-only SQLite file, a full disk. Requests get a clear envelope (503
``database_unavailable`` / ``database_read_only``, 507 ``storage_full``), never a traceback,
and the server recovers without a restart."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from dupeguard.api.app import create_app
from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.settings import Settings
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for
from tests.api.conftest import LiveServer, _serve

from .conftest import Key
from .proxy import CuttableProxy


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[LiveServer] = []

    def start(url: str) -> LiveServer:
        settings = Settings(database_url=url, webhook_worker=False)
        live = _serve(create_app(settings), settings)
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.stop()


def _envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    if status == 503:
        assert int(response.headers["retry-after"]) > 0


def _contact(client: httpx.Client, key: Key, email: str) -> httpx.Response:
    return client.post(
        "/v1/entities/contact/records", headers=key.headers, json={"data": {"email": email}}
    )


POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@POSTGRES_ONLY
def test_postgres_going_away_answers_503_and_recovers(db_url: str, key: Key, serve) -> None:
    url = make_url(db_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        live = serve(url.set(port=proxy.port).render_as_string(hide_password=False))
        with httpx.Client(base_url=live.url, timeout=30) as client:
            assert _contact(client, key, "before@x.com").status_code == 201
            proxy.cut()
            for _ in range(3):  # every request while it is down, not only the first
                _envelope(
                    client.get("/v1/workspace", headers=key.headers), 503, "database_unavailable"
                )
                _envelope(_contact(client, key, "down@x.com"), 503, "database_unavailable")
                _envelope(client.get("/health"), 503, "database_unavailable")
            proxy.restore()  # no restart: the pool's pre-ping replaces the dead connections
            assert client.get("/health").json()["database"] == "ok"
            assert _contact(client, key, "after@x.com").status_code == 201
            counts = client.get("/v1/workspace", headers=key.headers).json()
            assert counts["data"]["record_counts"]["contact"] == 2, counts
    finally:
        proxy.close()


@POSTGRES_ONLY
def test_postgres_backends_terminated_are_replaced(db_url: str, key: Key, serve) -> None:
    name = f"dg_fault_{uuid.uuid4().hex[:8]}"
    live = serve(
        make_url(db_url)
        .update_query_dict({"application_name": name})
        .render_as_string(hide_password=False)
    )
    admin = make_engine(db_url)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            for i in range(3):
                assert _contact(client, key, f"t{i}@x.com").status_code == 201
                with admin.begin() as conn:
                    killed = conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name"
                        ),
                        {"name": name},
                    ).scalar()
                assert killed and killed >= 1
            assert client.get("/v1/workspace", headers=key.headers).status_code == 200
    finally:
        admin.dispose()


@SQLITE_ONLY  # PostgreSQL's read-only case (a standby) is the injected 25006 below
def test_a_read_only_sqlite_file_refuses_writes_clearly(db_url: str, key: Key, serve) -> None:
    path = make_url(db_url).database
    live = serve(f"sqlite:///file:{path}?mode=ro&uri=true")
    with httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get("/health").json()["database"] == "ok"  # readable
        _envelope(_contact(client, key, "ro@x.com"), 503, "database_read_only")
        # an authenticated read stamps the key's last use (once a minute), a write too
        _envelope(client.get("/v1/workspace", headers=key.headers), 503, "database_read_only")


@SQLITE_ONLY
def test_the_cli_says_read_only_in_one_line(db_url: str, engine, tmp_path: Path) -> None:
    path = make_url(db_url).database
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPEGUARD_")}
    env["DUPEGUARD_DATABASE_URL"] = f"sqlite:///file:{path}?mode=ro&uri=true"
    done = subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", "workspace", "create", "Acme"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "readonly database" in done.stderr and done.stderr.startswith("dupeguard: error:")


# injected failures, as each driver raises them (a full disk cannot be made without root)
_FAULTS = {
    "sqlite": {
        "storage_full": lambda: sqlite3.OperationalError("database or disk is full"),
        "database_read_only": lambda: sqlite3.OperationalError(
            "attempt to write a readonly database"
        ),
    },
    "postgresql": {
        "storage_full": lambda: psycopg.errors.DiskFull(
            "could not extend file: No space left on device"
        ),
        "database_read_only": lambda: psycopg.errors.ReadOnlySqlTransaction(
            "cannot execute INSERT in a read-only transaction"
        ),
    },
}


@pytest.mark.parametrize(("code", "status"), [("storage_full", 507), ("database_read_only", 503)])
def test_injected_full_disk_and_read_only(db_url: str, key: Key, serve, code, status) -> None:
    live = serve(db_url)
    make = _FAULTS[live.app.state.engine.dialect.name][code]

    def fail(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO records"):
            raise make()

    engine = live.app.state.engine
    with httpx.Client(base_url=live.url, timeout=30) as client:
        event.listen(engine, "before_cursor_execute", fail)
        try:
            _envelope(_contact(client, key, "full@x.com"), status, code)
            bulk = client.post(
                "/v1/entities/contact/records/bulk",
                headers=key.headers,
                json={"records": [{"data": {"email": "b@x.com"}}]},
            )
            _envelope(bulk, status, code)
        finally:
            event.remove(engine, "before_cursor_execute", fail)
        assert _contact(client, key, "later@x.com").status_code == 201  # and then it works
        counts = client.get("/v1/workspace", headers=key.headers).json()["data"]["record_counts"]
        assert counts["contact"] == 1  # nothing half-written by the failed calls


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (needs root and mount; else the test skips)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a tmpfs")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_answers_507_and_recovers(tiny_disk: Path, serve) -> None:
    url = f"sqlite:///{tiny_disk / 'dupeguard.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(sessionmaker_for(engine)) as session:
        workspace = create_workspace(session=session, name="Full", credits=0)
        _, plaintext = create_key(session=session, workspace_id=workspace.id, scopes=("admin",))
    engine.dispose()
    key = Key(workspace.id, plaintext)
    live = serve(url)
    filler = tiny_disk / "filler"
    with httpx.Client(base_url=live.url, timeout=30) as client:
        assert _contact(client, key, "first@x.com").status_code == 201
        with filler.open("wb") as out:  # fill what is left of the disk
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass
        rows = [{"data": {"email": f"big{i}@x.com", "street": "x" * 60_000}} for i in range(30)]
        answer = client.post(
            "/v1/entities/contact/records/bulk", headers=key.headers, json={"records": rows}
        )
        _envelope(answer, 507, "storage_full")
        filler.unlink()
        assert _contact(client, key, "after@x.com").status_code == 201
        counts = client.get("/v1/workspace", headers=key.headers).json()["data"]["record_counts"]
        assert counts["contact"] == 2
