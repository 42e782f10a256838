"""Service fixtures: ``sessions``, a sessionmaker on the migrated database of ``engine``
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dupeguard.store.session import sessionmaker_for


@pytest.fixture
def sessions(engine) -> sessionmaker[Session]:
    return sessionmaker_for(engine)
