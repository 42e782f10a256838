"""SQLite checkpoints in a background thread instead of inside the commit that fills the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from dupeguard.store.checkpoint import BACKSTOP_PAGES, WalCheckpointer, database_file
from dupeguard.store.session import make_engine


def _wait(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _write_pages(engine: Engine, rows: int = 3_000) -> None:
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
        for _ in range(rows // 500):  # many commits, each adding frames to the log
            conn.execute(
                text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 400} for _ in range(500)]
            )
            conn.commit()


def test_requests_leave_checkpoints_to_the_thread_which_moves_the_log_into_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        _write_pages(engine)
        # ~1.3 MB written: all of it still in the log, none in the database file
        assert path.stat().st_size < 100_000
        assert Path(f"{path}-wal").stat().st_size > 1_000_000

        checkpointer = WalCheckpointer.for_engine(engine, interval=0.05)
        assert checkpointer is not None
        checkpointer.start()
        try:
            assert _wait(lambda: path.stat().st_size > 1_000_000), "the log was not copied"
        finally:
            checkpointer.stop()
        assert checkpointer.checkpoints >= 1
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 3_000
    finally:
        engine.dispose()


def test_without_the_option_sqlite_checkpoints_in_the_commit_as_usual(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://nobody@127.0.0.1:1/none",
    ],
)
def test_no_checkpointer_where_there_is_no_log_file(url: str) -> None:
    engine = make_engine(url)
    assert database_file(engine) is None
    assert WalCheckpointer.for_engine(engine) is None
    engine.dispose()


def test_a_failing_checkpoint_is_logged_once_and_the_thread_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "missing" / "c.db"), interval=0.01)
    with caplog.at_level(logging.WARNING, logger="dupeguard.store"):
        checkpointer.start()
        time.sleep(0.3)  # about 30 failed attempts
        checkpointer.stop()
    warnings = [r for r in caplog.records if "background WAL checkpoint" in r.getMessage()]
    assert len(warnings) == 1
    assert "unable to open database file" in warnings[0].getMessage()
    assert checkpointer.checkpoints == 0
