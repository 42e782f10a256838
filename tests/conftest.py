"""Shared fixtures: one test body runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DUPEGUARD_TEST_POSTGRES_URL`` (default: the local server on
127.0.0.1:5432, database ``test``, trust auth). Each test gets a fresh schema there, or a fresh
SQLite file; where no PostgreSQL is reachable its variants skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine

POSTGRES_URL = os.environ.get(
    "DUPEGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_postgres_problem: str | None = None


def _postgres_unreachable() -> str | None:
    global _postgres_problem
    if _postgres_problem is None:
        try:
            probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with probe.connect() as conn:
                conn.execute(text("select 1"))
            probe.dispose()
            _postgres_problem = ""
        except Exception as exc:  # any failure means: skip, and say why
            _postgres_problem = (
                f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"
            )
    return _postgres_problem or None


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind`` (``sqlite``: a file in ``directory``;
    ``postgresql``: a new schema, dropped afterwards). Skips when PostgreSQL is unreachable.
    For fixtures of a wider scope than :func:`db_url` (a module's shared server)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'dupeguard.db'}"
        return
    problem = _postgres_unreachable()
    if problem:
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with an empty database behind it (not yet migrated)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()
