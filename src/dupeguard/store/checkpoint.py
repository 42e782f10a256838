"""SQLite write-ahead-log checkpoints off the request path.

By default SQLite copies the write-ahead log back into the database file inside whichever
commit takes the log past 1,000 pages (about 4 MiB). At a million records that is one intake
commit in every 50 to 100, and it pays 10 to 30 ms for the copy and the ``fsync``: most of a
single intake's 99th percentile (measured in ``bench/intake_bench.py``: commit p99 20.3 ms with
automatic checkpoints, 0.5 ms without).

The server instead runs :class:`WalCheckpointer`: a daemon thread with its own connection that
runs ``PRAGMA wal_checkpoint(PASSIVE)`` every :data:`INTERVAL` seconds. A passive checkpoint
never waits for readers or writers and never blocks them; the ``sqlite3`` module lets go of
the GIL while SQLite copies pages, so requests go on meanwhile. Connections of an engine made
with ``make_engine(url, background_checkpoints=True)`` keep SQLite's automatic checkpoint as
a backstop only, at :data:`BACKSTOP_PAGES`, so the log stays bounded if the thread falls
behind or is not running. Several server processes on one file each run a checkpointer;
SQLite lets one at a time do the work and the others find nothing to do.

A checkpoint that fails (read-only file, full disk) is logged, at most once a minute, and
tried again: requests see the error themselves when they write.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine

__all__ = ["BACKSTOP_PAGES", "INTERVAL", "WalCheckpointer", "defer_checkpoints"]

logger = logging.getLogger("dupeguard.store")

INTERVAL = 0.5
"""Seconds between background checkpoints."""

BACKSTOP_PAGES = 16_000
"""``wal_autocheckpoint`` of request connections while checkpoints run in the background:
16,000 pages (64 MiB at SQLite's 4 KiB pages) instead of 1,000."""

_WARN_EVERY = 60.0


def defer_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    """Connect hook: leave checkpoints to :class:`WalCheckpointer`, keeping a backstop."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()


def database_file(engine: Engine) -> str | None:
    """The file behind a SQLite engine, or ``None`` (PostgreSQL, in-memory databases)."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return database


class WalCheckpointer:
    """Passive checkpoints of one SQLite file from a daemon thread (see the module)."""

    def __init__(self, path: str, *, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        """Checkpoints run so far (tests read it)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_at = -_WARN_EVERY

    @classmethod
    def for_engine(cls, engine: Engine, **kwargs: Any) -> WalCheckpointer | None:
        """A checkpointer for a SQLite file engine; ``None`` for anything else."""
        path = database_file(engine)
        return cls(path, **kwargs) if path is not None else None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, timeout=0)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    self._warn(exc)
                    if connection is not None:
                        connection.close()
                        connection = None
        finally:
            if connection is not None:
                connection.close()

    def _warn(self, exc: sqlite3.Error) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            logger.warning("background WAL checkpoint of %s failed: %s", self.path, exc)
