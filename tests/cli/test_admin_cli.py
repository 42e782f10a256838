"""`dupeguard db upgrade`, `workspace create`, `key create|revoke` against both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def dupeguard(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DUPEGUARD_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "dupeguard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_workspace_and_key_commands_print_json(db_url: str) -> None:
    up = dupeguard(db_url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    created = dupeguard(db_url, "workspace", "create", "Acme", "--credits", "250")
    assert created.returncode == 0, created.stderr
    workspace = json.loads(created.stdout)
    assert workspace["credits"] == 250 and workspace["api_key"].startswith("wbk_")
    key = dupeguard(
        db_url,
        "key",
        "create",
        "--workspace",
        workspace["workspace_id"],
        "--scopes",
        "read,write:ai",
        "--expires",
        "30d",
    )
    assert key.returncode == 0, key.stderr
    payload = json.loads(key.stdout)
    assert payload["workspace_id"] == workspace["workspace_id"]
    assert payload["scopes"] == ["read", "write:ai"] and payload["expires_at"]
    revoked = dupeguard(
        db_url, "key", "revoke", payload["key_id"], "--workspace", workspace["workspace_id"]
    )
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["key", "create", "--workspace", "nope", "--scopes", "read"], "no workspace"),
        (["workspace", "create", "  "], "needs a name"),
        (["workspace", "create", "A", "--credits", "-5"], "negative"),
    ],
)
def test_admin_errors_are_one_line(db_url: str, args: list[str], message: str) -> None:
    proc = dupeguard(db_url, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_expiry_and_scope(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    ws = json.loads(dupeguard(url, "workspace", "create", "A").stdout)["workspace_id"]
    for args, message in (
        (["--scopes", "read", "--expires", "tomorrow-ish"], "--expires"),
        (["--scopes", "read,fly"], "unknown scope"),
    ):
        proc = dupeguard(url, "key", "create", "--workspace", ws, *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_unreachable_database_and_bad_settings_are_one_line(tmp_path) -> None:
    proc = dupeguard("postgresql://127.0.0.1:9/nowhere", "db", "upgrade")
    assert proc.returncode == 2 and "cannot use the database" in proc.stderr
    assert "Traceback" not in proc.stderr
    env_bad = dupeguard("mysql://x/y", "db", "upgrade")
    assert env_bad.returncode == 2 and "unsupported database" in env_bad.stderr


def test_import_command_runs_intake_with_the_entity_keys(db_url: str, tmp_path) -> None:
    from dupeguard.services.entities import set_match_keys
    from dupeguard.store.session import make_engine, session_scope, sessionmaker_for

    workspace = json.loads(dupeguard(db_url, "workspace", "create", "Acme").stdout)
    engine = make_engine(db_url)
    with session_scope(sessionmaker_for(engine)) as session:
        set_match_keys(
            session=session,
            workspace_id=workspace["workspace_id"],
            entity="lead",
            fields=["email"],
        )
    engine.dispose()
    source = tmp_path / "leads.csv"
    source.write_text("E-mail,First Name,Notes\na@x.com,Ann,=HYPERLINK()\nA@X.com,Annie,\n")
    args = [
        "import",
        str(source),
        "--workspace",
        workspace["workspace_id"],
        "--map",
        "Notes=ignore",
        "--dedup-mode",
        "update",
    ]
    preview = dupeguard(db_url, *args, "--preview")
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["counts"] == {
        "created": 1,
        "updated": 1,
        "skipped": 0,
        "conflict": 0,
        "blocked": 0,
        "error": 0,
    }
    report = tmp_path / "report.csv"
    done = dupeguard(db_url, *args, "--report", str(report))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed" and result["counts"]["updated"] == 1
    lines = report.read_text().splitlines()
    assert lines[0].startswith("row_number,decision,record_id") and len(lines) == 3
    again = dupeguard(db_url, *args[:-2], "--dedup-mode", "skip")  # idempotent re-upload
    assert json.loads(again.stdout)["counts"]["skipped"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2,3\n")
    refused = dupeguard(db_url, "import", str(bad), "--workspace", workspace["workspace_id"])
    assert refused.returncode == 2 and "line 2" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
