"""`dupeguard webhook seal-secrets` on both databases: seals plaintext secrets once a key is
set, is idempotent, re-seals after a rotation, and says in one line what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import text

from dupeguard.services import crypto, webhooks
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.migrate import upgrade
from dupeguard.store.session import make_engine, session_scope, sessionmaker_for


def seal(db_url: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPEGUARD_")}
    env["DUPEGUARD_DATABASE_URL"] = db_url
    if key is not None:
        env["DUPEGUARD_ENCRYPTION_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", "webhook", "seal-secrets"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def one_line_error(done: subprocess.CompletedProcess[str], text_: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("dupeguard: ") and text_ in done.stderr, done.stderr


def test_seal_secrets_command(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = sessionmaker_for(engine)
    crypto.configure(None)  # the secret is created in plaintext, as by a server without a key
    with session_scope(sessions) as s:
        ws = create_workspace(session=s, name="Acme").id
        hook, secret = webhooks.create_webhook(
            session=s, workspace_id=ws, url="http://127.0.0.1:9/x", allow_private=True
        )
        hook_id = hook.id

    def stored() -> str:
        with engine.connect() as conn:
            query = text("SELECT secret FROM webhooks WHERE id = :id")
            return str(conn.execute(query, {"id": hook_id}).scalar_one())

    try:
        one_line_error(seal(db_url, None), "set DUPEGUARD_ENCRYPTION_KEY first")
        one_line_error(seal(db_url, "not-a-key"), "not a Fernet key")
        assert stored() == secret

        old, new = crypto.new_key(), crypto.new_key()
        first = seal(db_url, old)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == {"sealed": 1, "resealed": 0, "unchanged": 0}
        under_old = stored()
        assert under_old.startswith("enc:v1:") and secret not in under_old

        again = seal(db_url, old)
        assert json.loads(again.stdout) == {"sealed": 0, "resealed": 0, "unchanged": 1}
        assert stored() == under_old

        rotated = seal(db_url, f"{new},{old}")
        assert json.loads(rotated.stdout) == {"sealed": 0, "resealed": 1, "unchanged": 0}
        assert stored() != under_old
        crypto.configure(new)
        assert crypto.open_secret(stored()) == secret  # the new key alone opens it

        under_new = stored()
        one_line_error(seal(db_url, old), f"webhook {hook_id}")  # new replaced by old
        assert stored() == under_new
    finally:
        crypto.configure(None)
        engine.dispose()
