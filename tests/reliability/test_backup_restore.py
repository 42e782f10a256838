"""``dupeguard db backup`` / ``db restore`` as docs/OPERATIONS.md describes them: back up a
database holding records, a merge and a duplicate job, wipe it, restore, and compare every
row of every table. SQLite through the online backup API; PostgreSQL through pg_dump and
pg_restore (skipped, saying why, where the client programs are missing or older than the
server)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select, text
from sqlalchemy.engine import make_url

from dupeguard.services import duplicate_jobs, intake, merges
from dupeguard.services.keys import create_key
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope, sessionmaker_for


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPEGUARD_")}
    env["DUPEGUARD_DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", "db", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _fill(engine: Engine) -> None:
    sessions = sessionmaker_for(engine)
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="Backed up", credits=7).id
        create_key(session=s, workspace_id=ws, scopes=("read",))
    rows = [
        intake.Inbound(
            {"first_name": f"N{i // 2}", "last_name": "Smith", "email": f"{i // 2}@x.io"}
        )
        for i in range(30)
    ]
    with session_scope(sessions) as s:
        made = intake.submit_many(
            session=s, workspace_id=ws, entity="contact", rows=rows, source="api", mode="off"
        )
    ids = [m.record_id for m in made]  # type: ignore[union-attr]
    with session_scope(sessions) as s:
        merges.merge(
            session=s, workspace_id=ws, entity="contact", primary_id=ids[0], duplicate_ids=ids[1:2]
        )
    with session_scope(sessions) as s:
        job = duplicate_jobs.create(session=s, workspace_id=ws, entity="contact").id
    assert duplicate_jobs.run_job(sessions, job) == "completed"


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as sorted text."""
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            rows = conn.execute(select(table)).all()
            out[name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def test_sqlite_backup_wipe_restore(tmp_path: Path) -> None:
    from dupeguard.store.migrate import upgrade
    from dupeguard.store.session import make_engine

    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    _fill(engine)
    before = _snapshot(engine)
    assert len(before["records"]) == 30 and len(before["merges"]) == 1

    # online: the server's engine still holds its connections (WAL) while the backup runs
    backup = tmp_path / "backup.db"
    done = _cli(url, "backup", str(backup))
    assert done.returncode == 0, done.stderr
    engine.dispose()

    refused = _cli(url, "restore", str(backup))  # over a database with data: not by default
    assert refused.returncode == 2 and "--force" in refused.stderr
    for leftover in tmp_path.glob("live.db*"):
        leftover.unlink()  # wiped
    restored = _cli(url, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    engine = make_engine(url)
    assert _snapshot(engine) == before
    engine.dispose()

    bad = tmp_path / "not-a-backup.db"
    bad.write_text("hello")
    broken = _cli(url, "restore", "--force", str(bad))
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1
    assert "not a SQLite backup" in broken.stderr


def _pg_tools_problem(engine: Engine) -> str | None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        return "pg_dump/pg_restore not installed"
    version = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"\)\s*(\d+)", version)
    with engine.connect() as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    if found is None or int(found.group(1)) < server:
        return f"pg_dump {found.group(1) if found else '?'} is older than the server ({server})"
    return None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_backup_wipe_restore(db_url: str, engine: Engine, tmp_path: Path) -> None:
    problem = _pg_tools_problem(engine)
    if problem:
        pytest.skip(problem)
    _fill(engine)
    before = _snapshot(engine)
    backup = tmp_path / "backup.dump"
    done = _cli(db_url, "backup", str(backup))
    assert done.returncode == 0, done.stderr
    engine.dispose()

    schema = re.search(r"search_path%3D(\w+)", db_url)
    assert schema is not None
    admin = make_url(db_url).difference_update_query(["options"])
    from sqlalchemy import create_engine

    wiper = create_engine(admin)
    with wiper.begin() as conn:  # wiped
        conn.execute(text(f'DROP SCHEMA "{schema.group(1)}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema.group(1)}"'))
    wiper.dispose()
    restored = _cli(db_url, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert _snapshot(engine) == before
    refused = _cli(db_url, "restore", str(backup))
    assert refused.returncode == 2 and "--force" in refused.stderr
