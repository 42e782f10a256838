"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite gets write-ahead logging, enforced foreign keys and a busy timeout so several readers
and one writer cooperate; PostgreSQL connections are checked before use, so a database that
went away and came back is reconnected without a restart.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import ConfigError
from .checkpoint import defer_checkpoints

__all__ = [
    "WRITE_OPTION",
    "begin_write",
    "make_engine",
    "normalise_url",
    "pause_point",
    "session_scope",
    "sessionmaker_for",
]

WRITE_OPTION = "dupeguard_write"


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3; anything else must be SQLite."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"DUPEGUARD_DATABASE_URL is not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def make_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``. ``background_checkpoints`` (SQLite; the server sets it and runs
    :class:`~dupeguard.store.checkpoint.WalCheckpointer`) leaves write-ahead-log checkpoints
    to a background thread instead of the commit that fills the log."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if background_checkpoints:
            event.listen(engine, "connect", defer_checkpoints)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # a server that does not answer fails the connection after 10 s instead of hanging
        # the request (the URL's own ?connect_timeout= wins)
        connect_args = {} if "connect_timeout" in url else {"connect_timeout": 10}
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    _install_pause_point(engine)
    return engine


PAUSE_ENV = "DUPEGUARD_TEST_PAUSE_AT"


def _install_pause_point(engine: Engine) -> None:
    """Crash tests only (off unless ``DUPEGUARD_TEST_PAUSE_AT`` is set): before running a
    statement containing that text (e.g. ``INSERT INTO merges``), say so on stderr and sleep
    ``DUPEGUARD_TEST_PAUSE_SECONDS`` (default 60), so a test can ``kill -9`` the server
    inside that transaction. Every matching statement pauses."""
    if not os.environ.get(PAUSE_ENV, ""):
        return

    def pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        pause_point(statement)

    event.listen(engine, "before_cursor_execute", pause)


def pause_point(statement: str) -> None:
    """The crash tests' pause (see :func:`_install_test_pause`) for a write that bypasses
    SQLAlchemy's statement events (:func:`dupeguard.store.bulk.insert_frame`)."""
    needle = os.environ.get(PAUSE_ENV, "")
    if needle and needle in statement:
        print(f"DUPEGUARD_TEST_PAUSED {needle}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("DUPEGUARD_TEST_PAUSE_SECONDS", "60")))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # in WAL mode NORMAL survives process crashes; only power loss may drop the last commits
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache per connection (the default is 2 MiB): large imports and duplicate
    # jobs insert index entries at random places of million-row tables
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """``BEGIN IMMEDIATE`` for write transactions (see :func:`begin_write`).

    Other transactions keep the driver's own behaviour (reads outside a transaction, a
    ``BEGIN`` before the first write). A deferred transaction that reads and then writes
    fails at once with "database is locked" when another writer committed in between; taking
    the write lock first makes writers queue behind each other (up to the busy timeout).
    """
    if connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def sessionmaker_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: committed when the block ends, rolled back (and re-raised) on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction as a writer: on SQLite it takes the database write lock
    (``BEGIN IMMEDIATE``) before the first read, so a read-decide-write sequence (intake) is
    serialised; on PostgreSQL it is a plain transaction (intake adds advisory locks).

    Must be called before the session has begun; a session already inside a transaction on
    SQLite is a programming error, raised so that tests catch it.
    """
    if session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "sqlite" and not connection.get_execution_options().get(
            WRITE_OPTION
        ):
            raise RuntimeError("begin_write() must start the session's transaction on SQLite")
        return
    session.connection(execution_options={WRITE_OPTION: True})
