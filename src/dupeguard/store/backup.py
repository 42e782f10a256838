"""Backups and restores (``dupeguard db backup`` / ``dupeguard db restore``).

* **SQLite**: :meth:`sqlite3.Connection.backup`, the online backup API: a consistent copy of
  the database while servers keep writing (copying the live file with ``cp`` can catch it
  half-written, and misses what is still in the ``-wal`` file). Restore copies the backup
  into the configured file the same way, so a stopped server comes back with it.
* **PostgreSQL**: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists
  --no-owner`` (the client programs must be installed; the major version of ``pg_dump`` must
  be at least the server's). A URL whose ``options`` set ``search_path`` (one schema per
  tenant or test) dumps and restores that schema only.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url

from ..core.errors import InputError, ValidationError
from .session import normalise_url

__all__ = ["backup", "restore"]

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([A-Za-z0-9_]+)")


def backup(database_url: str, target: Path) -> Path:
    """Write a backup of the database at ``database_url`` to ``target``; returns ``target``."""
    url = make_url(normalise_url(database_url))
    target = Path(target)
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such directory")
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(url)
        if not source.is_file():
            raise InputError(f"{source}: no SQLite database there")
        _sqlite_copy(_sqlite_connect(url), sqlite3.connect(target))
        return target
    _run("pg_dump", "--format=custom", f"--file={target}", *_pg_args(url))
    return target


def restore(database_url: str, source: Path, *, force: bool = False) -> None:
    """Replace the database at ``database_url`` with the backup in ``source``."""
    source = Path(source)
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        try:
            reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            raise InputError(f"{source}: not a SQLite backup") from None
        target = _sqlite_file(url)
        if not force and target.is_file() and target.stat().st_size > 0:
            _refuse_non_empty(sqlite3.connect(target))
        _sqlite_copy(reader, sqlite3.connect(target))
        return
    if not force:
        from sqlalchemy import create_engine, inspect

        engine = create_engine(url)
        try:
            if inspect(engine).get_table_names():
                raise ValidationError(_NOT_EMPTY)
        finally:
            engine.dispose()
    _run(
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--exit-on-error",
        *_pg_args(url, schema_flag=False),
        str(source),
    )


_NOT_EMPTY = "the database already holds data: add --force to replace it with the backup"


def _refuse_non_empty(connection: sqlite3.Connection) -> None:
    try:
        tables = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
    finally:
        connection.close()
    if tables:
        raise ValidationError(_NOT_EMPTY)


def _sqlite_file(url: URL) -> Path:
    database = url.database or ""
    if database.startswith("file:"):
        database = database[5:].split("?", 1)[0]
    if not database or database == ":memory:":
        raise ValidationError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _sqlite_connect(url: URL) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{_sqlite_file(url)}?mode=ro", uri=True, timeout=30)


def _sqlite_copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    try:
        with target:
            source.backup(target, pages=4096)  # in steps: writers are not blocked for long
    finally:
        source.close()
        target.close()


def _pg_args(url: URL, *, schema_flag: bool = True) -> list[str]:
    """``--dbname=<libpq URI>`` (without SQLAlchemy's driver name), plus ``--schema`` when
    the URL's options pin a search_path."""
    options = url.query.get("options")
    option = options if isinstance(options, str) else " ".join(options or ())
    plain = url.set(drivername="postgresql")
    args = [f"--dbname={plain.render_as_string(hide_password=False)}"]
    found = _SEARCH_PATH.search(unquote(option))
    if found and schema_flag:
        args.append(f"--schema={found.group(1)}")
    return args


def _run(program: str, *args: str) -> None:
    path = shutil.which(program)
    if path is None:
        raise ValidationError(f"{program} not found: install the PostgreSQL client programs")
    done = subprocess.run([path, *args], capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ValidationError(f"{program} failed: {lines[0] if lines else done.returncode}")
