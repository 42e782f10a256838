"""`dupeguard user create` on both databases: JSON without the password, one line on bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from dupeguard.store.session import make_engine, sessionmaker_for
from dupeguard.store.tables import User
from tests.cli.test_admin_cli import dupeguard


def test_user_create_stores_only_an_argon2_hash(db_url: str) -> None:
    made = dupeguard(db_url, "workspace", "create", "Acme")
    assert made.returncode == 0, made.stderr
    workspace_id = json.loads(made.stdout)["workspace_id"]
    args = ["user", "create", "--workspace", workspace_id, "--email", "Ann@Example.com"]
    out = dupeguard(db_url, *args, "--password", "correct horse battery", "--role", "admin")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["email"] == "ann@example.com" and shown["role"] == "admin"
    assert "correct horse" not in out.stdout
    engine = make_engine(db_url)
    with sessionmaker_for(engine)() as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
    engine.dispose()
    again = dupeguard(db_url, *args, "--password", "another password")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "dupeguard: error: ann@example.com already has a user in this workspace"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_user_create_bad_input_is_one_line(db_url: str) -> None:
    workspace_id = json.loads(dupeguard(db_url, "workspace", "create", "A").stdout)["workspace_id"]
    for args, message in (
        (["--email", "nope", "--password", "long enough pw"], "not an e-mail address: 'nope'"),
        (["--email", "a@b.co", "--password", "short"], "a password has 10 to 1024 characters"),
        (
            ["--email", "a@b.co", "--password", "long enough pw", "--role", "boss"],
            "role: one of admin, member (got 'boss')",
        ),
    ):
        out = dupeguard(db_url, "user", "create", "--workspace", workspace_id, *args)
        assert out.returncode == 2, args
        assert out.stderr.strip().splitlines() == [f"dupeguard: error: {message}"]
    missing = dupeguard(
        db_url,
        "user",
        "create",
        "--workspace",
        "nope",
        "--email",
        "a@b.co",
        "--password",
        "long enough pw",
    )
    assert missing.returncode == 2 and "no workspace 'nope'" in missing.stderr
