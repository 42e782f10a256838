"""Entities → Fields over plain HTTP, on SQLite and PostgreSQL: admin writes save at once,
members read but get 403 on every write, ineligible types are refused with the API's reason,
another workspace's entities answer 404, a double-submitted form applies once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from dupeguard.services import entities as svc
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in

_NONCE = re.compile(r'name="form_nonce" value="([^"]+)"')


@pytest.fixture
def member_client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


def _post(client: httpx.Client, page: str, action: str, **data: str) -> httpx.Response:
    """POST ``data`` to ``action`` with the CSRF token and a fresh nonce read from ``page``."""
    html = client.get(page).text
    nonce = _NONCE.search(html)
    fields = {"csrf_token": csrf_of(html), **({"form_nonce": nonce.group(1)} if nonce else {})}
    return client.post(action, data={**fields, **data})


def _keys(live_server: LiveServer, user: UiUser, entity: str = "contact") -> list[str]:
    with session_scope(live_server.sessions) as session:
        target = svc.entity_of(session=session, workspace_id=user.workspace_id, name=entity)
        return [f.name for f in svc.match_key_fields(session=session, entity_id=target.id)]


def test_admin_marks_keys_and_reorders_member_cannot(
    live_server: LiveServer,
    client: httpx.Client,
    member_client: httpx.Client,
    ui_user: Callable[..., UiUser],
) -> None:
    admin = ui_user()
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    assert sign_in(client, admin).status_code == 303
    assert sign_in(member_client, member).status_code == 303
    rules = "/entities/contact/fields/{}?tab=rules"

    for name in ("email", "phone"):
        answer = _post(
            client, rules.format(name), f"/entities/contact/fields/{name}/match-key", match_key="on"
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == rules.format(name)
    assert _keys(live_server, admin) == ["email", "phone"]
    page = client.get("/entities/contact").text
    assert "Match key priority" in page and "Move Phone up" in page

    moved = _post(client, "/entities/contact", "/entities/contact/keys/phone/move", direction="up")
    assert moved.status_code == 303
    assert _keys(live_server, admin) == ["phone", "email"]

    # a member reads the same pages, without the controls, and every write is refused
    page = member_client.get("/entities/contact").text
    assert "Match key priority" in page and "Move Phone up" not in page
    assert "Add a field" not in page
    rules_page = member_client.get(rules.format("email")).text
    assert 'id="f-match-key"' in rules_page and "disabled" in rules_page
    for action, data in [
        ("/entities/contact/fields/email/match-key", {}),
        ("/entities/contact/keys/email/move", {"direction": "up"}),
        ("/entities/contact/fields", {"name": "x_code", "type": "text"}),
        ("/entities", {"name": "partner"}),
        ("/entities/contact/fields/email", {"label": "Mail"}),
    ]:
        answer = _post(member_client, "/entities/contact", action, **data)
        assert answer.status_code == 403, action
    assert _keys(live_server, admin) == ["phone", "email"]

    # unchecking (no match_key in the form) removes the key
    assert (
        _post(client, rules.format("phone"), "/entities/contact/fields/phone/match-key").status_code
        == 303
    )
    assert _keys(live_server, admin) == ["email"]
    assert "Match key priority" not in client.get("/entities/contact").text


def test_custom_entity_fields_and_the_ineligible_toggle(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    admin = ui_user()
    sign_in(client, admin)
    bad = _post(client, "/entities", "/entities", name="Not Valid", label="Kept label")
    assert bad.status_code == 400
    assert "lower-case letters" in bad.text and 'value="Kept label"' in bad.text
    made = _post(client, "/entities", "/entities", name="partner", label="Partner")
    assert made.status_code == 303 and made.headers["location"] == "/entities/partner"
    again = _post(client, "/entities", "/entities", name="partner")
    assert again.status_code == 400 and "exists" in again.text

    added = _post(
        client,
        "/entities/partner",
        "/entities/partner/fields",
        name="tier",
        type="single_select",
        choices="gold\nsilver\n",
    )
    assert added.status_code == 303
    added = _post(
        client, "/entities/partner", "/entities/partner/fields", name="tags", type="multi_select"
    )
    assert added.status_code == 303
    with session_scope(live_server.sessions) as session:
        fields = svc.list_fields(session=session, workspace_id=admin.workspace_id, entity="partner")
        assert [(f.name, f.type, f.options) for f in fields] == [
            ("tier", "single_select", {"choices": ["gold", "silver"]}),
            ("tags", "multi_select", {}),
        ]
    wrong = _post(
        client,
        "/entities/partner",
        "/entities/partner/fields",
        name="tier",
        type="text",
        label="Typed",
    )
    assert wrong.status_code == 400 and 'value="Typed"' in wrong.text

    page = client.get("/entities/partner/fields/tags?tab=rules").text
    assert "multi-select values are arrays" in page
    assert re.search(r'<input type="checkbox" id="f-match-key"[^>]* disabled', page)
    refused = _post(
        client,
        "/entities/partner/fields/tags?tab=rules",
        "/entities/partner/fields/tags/match-key",
        match_key="on",
    )
    assert refused.status_code == 400 and "multi-select values are arrays" in refused.text
    assert _keys(live_server, admin, "partner") == []

    renamed = _post(
        client, "/entities/partner/fields/tier", "/entities/partner/fields/tier", label="Level"
    )
    assert renamed.status_code == 303
    assert "Level" in client.get("/entities/partner").text


def test_other_workspaces_entities_are_not_found_and_a_resent_form_applies_once(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    mine = ui_user()
    theirs = ui_user(name="Other")
    with session_scope(live_server.sessions) as session:
        svc.create_entity(session=session, workspace_id=theirs.workspace_id, name="secret")
    sign_in(client, mine)
    assert client.get("/entities/secret").status_code == 404
    assert client.get("/entities/contact/fields/nope").status_code == 404
    assert "secret" not in client.get("/entities").text
    html = client.get("/entities/contact").text
    data = {"csrf_token": csrf_of(html), "form_nonce": "n-" + mine.user_id}
    assert (
        client.post(
            "/entities/secret/fields", data={**data, "name": "x", "type": "text"}
        ).status_code
        == 404
    )

    html = client.get("/entities/contact").text
    form = {"csrf_token": csrf_of(html), "form_nonce": _NONCE.search(html).group(1)}  # type: ignore[union-attr]
    first = client.post(
        "/entities/contact/fields/email/match-key", data={**form, "match_key": "on"}
    )
    assert first.status_code == 303
    # the same form again (with the key unticked meanwhile by someone else) is not re-applied
    with session_scope(live_server.sessions) as session:
        svc.set_match_keys(
            session=session, workspace_id=mine.workspace_id, entity="contact", fields=[]
        )
    second = client.post(
        "/entities/contact/fields/email/match-key", data={**form, "match_key": "on"}
    )
    assert second.status_code == 303
    assert "already sent" in client.get(second.headers["location"]).text
    assert _keys(live_server, mine) == []
