"""Bring a database to the running version: migrations, then the data they imply.

Alembic migrates the schema; :func:`prepare` then adds what needs the application's own code:
the standard duplicate rules of workspaces made before rules existed, and the blocking keys of
entities whose keys are not the ones their rules want (a release that changed a block value).
Several workers may start at once: on PostgreSQL an advisory lock lets one do it, SQLite's
write lock does the same.
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from ..store.migrate import upgrade
from ..store.session import begin_write, session_scope, sessionmaker_for
from .rules import ensure_standard_rules, sync_all_blocks

__all__ = ["prepare"]

_LOCK = 0x64757065  # "dupe"


def prepare(engine: Engine, *, region: str = "US") -> sessionmaker[Session]:
    """Migrate ``engine``'s database and add the standard rules where missing (their blocking
    keys computed with the default phone ``region``)."""
    upgrade(engine)
    sessions = sessionmaker_for(engine)
    with session_scope(sessions) as session:
        begin_write(session)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        ensure_standard_rules(session, region=region)
        sync_all_blocks(session, region=region)
    return sessions
