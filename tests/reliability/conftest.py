"""Crash and fault fixtures: the real server as a child process (``dupeguard serve``) on the
test's database (a SQLite file or a fresh PostgreSQL schema), which a test can ``kill -9``
and start again.

``server(**env)`` starts one and waits until ``GET /health`` answers; ``DUPEGUARD_TEST_PAUSE_AT``
(see :mod:`dupeguard.store.session`) makes it sleep before a chosen SQL statement, and
``proc.wait_paused()`` returns once it does, so the kill lands inside that transaction.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope, sessionmaker_for

START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    log: Path
    _offset: int = field(default=0)

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_paused(self, timeout: float = 60) -> None:
        """Until the server logged that it paused at the test pause point."""
        deadline = time.monotonic() + timeout
        while "DUPEGUARD_TEST_PAUSED" not in self.output():
            assert self.process.poll() is None, f"the server exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no pause within {timeout} s:\n{self.output()}"
            time.sleep(0.02)

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A factory: ``server(DUPEGUARD_TEST_PAUSE_AT="INSERT INTO merges")`` starts
    ``dupeguard serve`` on a free loopback port against the test's database."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DUPEGUARD_")},
            "DUPEGUARD_DATABASE_URL": db_url,
            "DUPEGUARD_WEBHOOK_WORKER": "false",
            **env,
        }
        log = tmp_path / f"server-{len(started)}.log"
        with log.open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "dupeguard.cli", "serve", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=environment,
            )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            process.kill()
            process.wait()
            raise AssertionError(f"dupeguard serve did not start: {line}\n{log.read_text()}")
        proc = ServerProcess(match.group(0), process, log)
        started.append(proc)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{proc.url}/health", timeout=5).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"the server exited:\n{proc.output()}"
            assert time.monotonic() < deadline, f"no answer within {START_TIMEOUT} s"
            time.sleep(0.05)

    yield start
    for proc in started:
        proc.stop()
        if proc.process.stdout is not None:
            proc.process.stdout.close()


@pytest.fixture
def sessions(engine) -> sessionmaker[Session]:
    """The test's own view of the server's database (migrated by the ``engine`` fixture)."""
    return sessionmaker_for(engine)


@dataclass(frozen=True)
class Key:
    workspace_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def key(sessions: sessionmaker[Session]) -> Key:
    """A workspace with 1,000 credits and a key holding every scope."""
    with session_scope(sessions) as session:
        workspace = create_workspace(session=session, name="Crash", credits=1000)
        _, plaintext = create_key(session=session, workspace_id=workspace.id, scopes=("admin",))
        return Key(workspace.id, plaintext)
