from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from dupeguard.store.migrate import alembic_config, upgrade
from dupeguard.store.session import make_engine
from dupeguard.store.tables import Base


def test_migrations_build_the_models_schema_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # a second run changes nothing
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    engine.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    """Autogenerate finds nothing to do: every model change comes with a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()


def _alembic(engine, action: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _secret_length(engine) -> int | None:
    (column,) = [c for c in inspect(engine).get_columns("webhooks") if c["name"] == "secret"]
    return getattr(column["type"], "length", None)


def test_webhook_secret_widening_upgrades_and_downgrades(db_url: str) -> None:
    """3b1f6c2d8a47 widens webhooks.secret for sealed secrets; its downgrade keeps plaintext
    rows and refuses (changing nothing) while a sealed one would not fit."""
    engine = make_engine(db_url)
    upgrade(engine, "e7e8c9adcd18")
    assert _secret_length(engine) == 100
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspaces (id, name, credits, created_at) "
                "VALUES ('w1', 'Acme', 0, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO webhooks (id, workspace_id, url, events, secret, active, created_at) "
                "VALUES ('h1', 'w1', 'http://x/', '[]', 'whsec_plain', true, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    assert _secret_length(engine) == 500
    sealed = "enc:v1:" + "x" * 170
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhooks SET secret = :s WHERE id = 'h1'"), {"s": sealed})
    with pytest.raises(RuntimeError, match=r"sealed .* restore the backup"):
        _alembic(engine, "downgrade", "e7e8c9adcd18")
    assert _secret_length(engine) == 500
    with engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM webhooks")).scalar_one() == sealed

    with engine.begin() as conn:
        conn.execute(text("UPDATE webhooks SET secret = 'whsec_plain' WHERE id = 'h1'"))
    _alembic(engine, "downgrade", "e7e8c9adcd18")
    assert _secret_length(engine) == 100
    with engine.connect() as conn:
        assert conn.execute(text("SELECT secret FROM webhooks")).scalar_one() == "whsec_plain"
    upgrade(engine)
    assert _secret_length(engine) == 500
    engine.dispose()
