"""`make run`: the server on the embedded SQLite database, with a demo workspace.

The first run creates the workspace and loads synthetic contacts and companies (with the
duplicates real CRMs have) and makes e-mail the match key of contacts and leads; every run
prints the URL of the web UI with a demo user's e-mail and password, a fresh API key, a curl
line that calls detect-duplicates and one that sends a known contact through intake (skipped,
not duplicated).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

DEMO_DIR = Path("demo")
STATE = DEMO_DIR / "workspace.json"
DEMO_EMAIL = "demo@example.com"
CONTACTS = 3_000
COMPANIES = 1_000


def _ensure_workspace(factory: sessionmaker[Session]) -> tuple[str, str]:
    """The demo workspace id (created and loaded on first use) and a new API key for it."""
    from .services.entities import set_match_keys
    from .services.intake import MAX_BULK, Inbound, submit_many
    from .services.keys import create_key
    from .services.workspaces import create_workspace, get_workspace
    from .store.session import session_scope
    from .synthetic import generate_companies, generate_contacts

    workspace_id = None
    if STATE.exists():
        workspace_id = json.loads(STATE.read_text()).get("workspace_id")
        try:
            with session_scope(factory) as session:
                get_workspace(session=session, workspace_id=workspace_id)
        except Exception:
            workspace_id = None
    if workspace_id is None:
        print("Creating the demo workspace with synthetic contacts and companies …", flush=True)
        with session_scope(factory) as session:
            workspace_id = create_workspace(session=session, name="Demo", credits=1_000).id
        for entity, (frame, _) in (
            ("contact", generate_contacts(CONTACTS, seed=7)),
            ("company", generate_companies(COMPANIES, seed=7)),
        ):
            rows = []
            for row in frame.drop("id", "created_at").iter_rows(named=True):
                data = {k: v for k, v in row.items() if v not in (None, "")}
                if entity == "company" and "website" in data:
                    data["domain"] = data.pop("website")
                rows.append(Inbound(data))
            for start in range(0, len(rows), MAX_BULK):
                with session_scope(factory) as session:  # intake starts its own transaction
                    submit_many(
                        session=session,
                        workspace_id=workspace_id,
                        entity=entity,
                        rows=rows[start : start + MAX_BULK],
                        source="import",
                    )
        with session_scope(factory) as session:  # identity for intake: e-mail (seed 001)
            for entity in ("contact", "lead"):
                set_match_keys(
                    session=session, workspace_id=workspace_id, entity=entity, fields=["email"]
                )
        DEMO_DIR.mkdir(exist_ok=True)
        STATE.write_text(json.dumps({"workspace_id": workspace_id}))
    with session_scope(factory) as session:
        _, plaintext = create_key(
            session=session,
            workspace_id=workspace_id,
            scopes=["read", "write", "write:ai", "admin"],
            name="make run",
        )
    return workspace_id, plaintext


def _demo_user(factory: sessionmaker[Session], workspace_id: str) -> str:
    """The demo admin's password: the user is created on first use with a random password,
    kept in demo/workspace.json beside the workspace id (a local demo, not a secret store)."""
    import secrets

    from sqlalchemy import select

    from .services.users import create_user
    from .store.session import session_scope
    from .store.tables import User

    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    with session_scope(factory) as session:
        exists = session.scalar(
            select(User.id).where(User.workspace_id == workspace_id, User.email == DEMO_EMAIL)
        )
        password = state.get("demo_password")
        if exists is None or not password:
            if exists is not None:  # its password is not on record here
                raise SystemExit(f"dupeguard: remove {STATE} and dupeguard.db to reset the demo")
            password = secrets.token_urlsafe(12)
            create_user(
                session=session,
                workspace_id=workspace_id,
                email=DEMO_EMAIL,
                password=password,
                role="admin",
            )
            state.update({"workspace_id": workspace_id, "demo_password": password})
            DEMO_DIR.mkdir(exist_ok=True)
            STATE.write_text(json.dumps(state))
    return str(password)


def _known_email(factory: sessionmaker[Session], workspace_id: str) -> str:
    """An e-mail address held by exactly one demo contact (for the intake example)."""
    from sqlalchemy import func, select

    from .store.session import session_scope
    from .store.tables import RecordKey

    with session_scope(factory) as session:
        found = session.scalar(
            select(RecordKey.value)
            .where(RecordKey.workspace_id == workspace_id, RecordKey.key == "email")
            .group_by(RecordKey.value)
            .having(func.count() == 1)
            .limit(1)
        )
    return found or "jane@example.com"


def main() -> int:
    import uvicorn

    from .api.app import create_app
    from .settings import Settings

    host = os.environ.get("DUPEGUARD_HOST", "127.0.0.1")
    port = int(os.environ.get("DUPEGUARD_PORT", "8000"))
    app = create_app(Settings())
    workspace_id, key = _ensure_workspace(app.state.sessions)
    email = _known_email(app.state.sessions, workspace_id)
    password = _demo_user(app.state.sessions, workspace_id)
    url = f"http://{host}:{port}"
    print(
        f"""
dupeguard is running at {url}   (API docs: {url}/docs)

Web UI:         {url}/
  e-mail:       {DEMO_EMAIL}
  password:     {password}
demo workspace: {workspace_id}
API key:        {key}

Try it:
  curl -s -X POST {url}/v1/ai/detect-duplicates \\
    -H "Authorization: Bearer {key}" \\
    -H "Content-Type: application/json" \\
    -d '{{"entity_type": "contact", "threshold": 0.9, "limit": 5}}'

A contact arriving with a known e-mail (the match key) is skipped, not duplicated:
  curl -s -X POST {url}/v1/entities/contact/records \\
    -H "Authorization: Bearer {key}" \\
    -H "Content-Type: application/json" \\
    -d '{{"data": {{"email": "{email.upper()}", "city": "Springfield"}}, "dedup_mode": "skip"}}'
""",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
