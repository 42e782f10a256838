"""Forms over plain HTTP, on SQLite and PostgreSQL: the builder (admin only), the token shown
once and stored hashed, the public page (no sign-in, the same answer whatever the decision,
a wrong token → 404, the API's rate limit), the submissions list, another workspace's form →
404."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from dupeguard.services import forms as svc
from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in

_NONCE = re.compile(r'name="form_nonce" value="([^"]+)"')
_TOKEN = re.compile(r'id="f-token" type="text" readonly value="(wbf_[^"]+)"')


@pytest.fixture
def other_client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


def _builder_post(client: httpx.Client, page: str, action: str, **data: str) -> httpx.Response:
    html = client.get(page).text
    nonce = _NONCE.findall(html)[-1]  # the builder is the page's last form
    return client.post(action, data={"csrf_token": csrf_of(html), "form_nonce": nonce, **data})


BUILDER = {
    "entity": "contact",
    "name": "Contact us",
    "include_email": "on",
    "name_email": "work_email",
    "label_email": "Work e-mail",
    "required_email": "on",
    "include_city": "on",
    "thank_you": "Thanks!",
    "dedup_mode": "skip",
}


def _created(client: httpx.Client, **changes: str) -> tuple[str, str]:
    answer = _builder_post(client, "/forms/new", "/forms/new", **{**BUILDER, **changes})
    assert answer.status_code == 201, answer.text
    token = _TOKEN.search(answer.text)
    assert token is not None
    form_id = re.search(r'href="/forms/([^"]+)">Go to the form', answer.text)
    assert form_id is not None
    return form_id.group(1), token.group(1)


def test_build_a_form_token_once_and_public_submissions(
    live_server: LiveServer,
    client: httpx.Client,
    other_client: httpx.Client,
    ui_user: Callable[..., UiUser],
) -> None:
    admin = ui_user()
    with session_scope(live_server.sessions) as session:
        set_match_keys(
            session=session, workspace_id=admin.workspace_id, entity="contact", fields=["email"]
        )
    sign_in(client, admin)
    new_page = client.get("/forms/new").text
    assert re.search(r'<option value="skip" selected>', new_page)  # Skip preselected

    form_id, token = _created(client)
    with session_scope(live_server.sessions) as session:
        form = svc.get_form(session=session, workspace_id=admin.workspace_id, form_id=form_id)
        assert form.token_hash != token and form.token_prefix == token[:12]
        assert form.fields == [
            {"name": "work_email", "field": "email", "label": "Work e-mail", "required": True},
            {"name": "city", "field": "city", "label": "City", "required": False},
        ]
        assert form.dedup_mode == "skip" and form.thank_you == "Thanks!"
    detail = client.get(f"/forms/{form_id}").text
    assert token not in detail and f"/f/{form_id}?token=" in detail

    # the public page: no session, the token in the link
    public = other_client.get(f"/f/{form_id}", params={"token": token})
    assert public.status_code == 200
    assert 'name="work_email"' in public.text and 'type="email"' in public.text
    for wrong in ("", "wbf_" + "A" * 32, "nonsense"):
        assert other_client.get(f"/f/{form_id}", params={"token": wrong}).status_code == 404
    assert other_client.get("/f/nope", params={"token": token}).status_code == 404

    def send(**values: str) -> httpx.Response:
        return other_client.post(f"/f/{form_id}", data={"token": token, **values})

    first = send(work_email="ada@example.com", city="London")
    second = send(work_email="ADA@example.com ", city="Paris")  # a duplicate: skipped
    assert first.status_code == second.status_code == 200
    assert "Thanks!" in first.text and "Thanks!" in second.text
    strip = re.compile(r'name="[^"]*nonce[^"]*" value="[^"]*"')
    assert strip.sub("", first.text) == strip.sub("", second.text)  # reveals nothing
    missing = send(city="Rome")
    assert missing.status_code == 400 and "Work e-mail is required" in missing.text
    assert 'value="Rome"' in missing.text
    assert send(work_email="x@example.com", token="wbf_wrong").status_code == 404

    with session_scope(live_server.sessions) as session:
        rows, _ = svc.list_submissions(
            session=session, workspace_id=admin.workspace_id, form_id=form_id
        )
    assert [r.decision for r in rows] == ["created", "skipped"]
    listed = client.get(f"/forms/{form_id}").text
    assert "decision-created" in listed and "decision-skipped" in listed

    # change the action and the thank-you message: saved at once
    saved = _builder_post(
        client,
        f"/forms/{form_id}",
        f"/forms/{form_id}",
        **{**BUILDER, "dedup_mode": "update", "thank_you": "Updated.", "active": "on"},
    )
    assert saved.status_code == 303
    assert "Updated." in send(work_email="ada@example.com", city="Oslo").text
    with session_scope(live_server.sessions) as session:
        rows, _ = svc.list_submissions(
            session=session, workspace_id=admin.workspace_id, form_id=form_id
        )
        assert (rows[-1].decision, rows[-1].changed_fields) == ("updated", ["city"])

    # a new token: the old link stops working, the new one is shown once
    html = client.get(f"/forms/{form_id}").text
    rotate_nonce = _NONCE.findall(html)[0]
    rotated = client.post(
        f"/forms/{form_id}/rotate-token",
        data={"csrf_token": csrf_of(html), "form_nonce": rotate_nonce},
    )
    fresh = _TOKEN.search(rotated.text)
    assert rotated.status_code == 200 and fresh is not None and fresh.group(1) != token
    assert other_client.get(f"/f/{form_id}", params={"token": token}).status_code == 404
    assert other_client.get(f"/f/{form_id}", params={"token": fresh.group(1)}).status_code == 200

    # paused: the link answers "not available"
    paused = _builder_post(client, f"/forms/{form_id}", f"/forms/{form_id}", **BUILDER)
    assert paused.status_code == 303
    assert other_client.get(f"/f/{form_id}", params={"token": fresh.group(1)}).status_code == 404


def test_builder_errors_keep_input_members_read_only_other_workspace_404(
    live_server: LiveServer,
    client: httpx.Client,
    other_client: httpx.Client,
    ui_user: Callable[..., UiUser],
) -> None:
    admin = ui_user()
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    stranger = ui_user(name="Other")
    sign_in(client, admin)
    no_inputs = _builder_post(
        client, "/forms/new", "/forms/new", entity="contact", name="Empty", thank_you="Kept"
    )
    assert no_inputs.status_code == 400
    assert "at least one input" in no_inputs.text and ">Kept</textarea>" in no_inputs.text
    bad_name = _builder_post(
        client, "/forms/new", "/forms/new", **{**BUILDER, "name_email": "token"}
    )
    assert bad_name.status_code == 400 and "not &#39;token&#39;" in bad_name.text
    html = client.get("/forms/new").text
    once = {"csrf_token": csrf_of(html), "form_nonce": _NONCE.findall(html)[-1], **BUILDER}
    assert client.post("/forms/new", data=once).status_code == 201
    again = client.post("/forms/new", data=once)  # sent twice: one form, no second token
    assert again.status_code == 303 and "wbf_" not in again.text
    with session_scope(live_server.sessions) as session:
        made = svc.list_forms(session=session, workspace_id=admin.workspace_id)
    assert len(made) == 1 and again.headers["location"] == f"/forms/{made[0].id}"
    assert "already sent" in client.get(again.headers["location"]).text
    form_id = made[0].id

    sign_in(other_client, member)
    assert other_client.get("/forms").status_code == 200
    page = other_client.get(f"/forms/{form_id}").text
    assert "Save form" not in page and "New token" not in page and "<fieldset disabled>" in page
    assert other_client.get("/forms/new").status_code == 403
    html = other_client.get("/forms").text
    for action in ("/forms/new", f"/forms/{form_id}", f"/forms/{form_id}/rotate-token"):
        answer = other_client.post(action, data={"csrf_token": csrf_of(html), **BUILDER})
        assert answer.status_code == 403, action

    other_client.cookies.clear()
    sign_in(other_client, stranger)
    assert other_client.get(f"/forms/{form_id}").status_code == 404
    assert "Contact us" not in other_client.get("/forms").text
    html = other_client.get("/forms").text
    answer = other_client.post(
        f"/forms/{form_id}", data={"csrf_token": csrf_of(html), **BUILDER, "name": "Taken"}
    )
    assert answer.status_code == 404


@pytest.mark.live_server(form_rate_limit="2/minute")
def test_public_page_is_rate_limited_like_the_api(
    live_server: LiveServer, other_client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    admin = ui_user()
    with session_scope(live_server.sessions) as session:
        form, token = svc.create_form(
            session=session,
            workspace_id=admin.workspace_id,
            entity="contact",
            name="Quick",
            fields=[{"name": "email", "field": "email"}],
        )
    answers = [
        other_client.post(f"/f/{form.id}", data={"token": token, "email": f"{i}@example.com"})
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "too many submissions" in answers[2].text
    with session_scope(live_server.sessions) as session:
        rows, _ = svc.list_submissions(
            session=session, workspace_id=admin.workspace_id, form_id=form.id
        )
    assert len(rows) == 2
