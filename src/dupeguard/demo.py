"""`make run`: the server on the embedded SQLite database, with a demo workspace.

The first run creates the workspace and loads synthetic contacts and companies (with the
duplicates real CRMs have); every run prints the URL, a fresh API key and a curl line that
calls detect-duplicates.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

DEMO_DIR = Path("demo")
STATE = DEMO_DIR / "workspace.json"
CONTACTS = 3_000
COMPANIES = 1_000


def _ensure_workspace(factory: sessionmaker[Session]) -> tuple[str, str]:
    """The demo workspace id (created and loaded on first use) and a new API key for it."""
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


def main() -> int:
    import uvicorn

    from .api.app import create_app
    from .settings import Settings

    host = os.environ.get("DUPEGUARD_HOST", "127.0.0.1")
    port = int(os.environ.get("DUPEGUARD_PORT", "8000"))
    app = create_app(Settings())
    workspace_id, key = _ensure_workspace(app.state.sessions)
    url = f"http://{host}:{port}"
    print(
        f"""
dupeguard is running at {url}   (API docs: {url}/docs)
demo workspace: {workspace_id}
API key:        {key}

Try it:
  curl -s -X POST {url}/v1/ai/detect-duplicates \\
    -H "Authorization: Bearer {key}" \\
    -H "Content-Type: application/json" \\
    -d '{{"entity_type": "contact", "threshold": 0.9, "limit": 5}}'
""",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
