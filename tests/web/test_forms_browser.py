"""Forms in headless Chromium (seed 001): build a form, open its public page signed out and
submit it under each duplicate-detection action (Skip, Update, Off), checking the records
through the services; the owner reads the decisions on the form's page. SQLite only
(test_forms_http.py covers both databases)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dupeguard.services import forms, intake
from dupeguard.services import records as records_svc
from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, browser_sign_in


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


@pytest.fixture
def crm(live_server: LiveServer, ui_user: Callable[..., UiUser]) -> tuple[UiUser, str]:
    """An admin; contacts match on e-mail; one contact (ada@example.com, London) stored."""
    user = ui_user()
    with session_scope(live_server.sessions) as session:
        set_match_keys(
            session=session, workspace_id=user.workspace_id, entity="contact", fields=["email"]
        )
    with session_scope(live_server.sessions) as session:
        outcome = intake.submit(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"email": "ada@example.com", "city": "London"}),
            source="api",
        )
    assert outcome.record_id is not None
    return user, outcome.record_id


def _submit_publicly(browser: Any, live_server: LiveServer, url: str, city: str) -> Any:
    """Open the public URL in a fresh, signed-out context and send the form."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 700})
    page = context.new_page()
    page.goto(url)
    assert page.get_by_role("link", name="Sign out").count() == 0
    page.get_by_label("Work e-mail").fill("ada@example.com")
    page.get_by_label("City").fill(city)
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert page.get_by_role("status").inner_text() == "Thanks, Ada will write back."
    return context, page


def _decisions(live_server: LiveServer, user: UiUser, form_id: str) -> list[tuple[str, str]]:
    with session_scope(live_server.sessions) as session:
        rows, _ = forms.list_submissions(
            session=session, workspace_id=user.workspace_id, form_id=form_id
        )
        return [(r.decision, r.record_id or "") for r in rows]


def _city(live_server: LiveServer, user: UiUser, record_id: str) -> str:
    with session_scope(live_server.sessions) as session:
        record = records_svc.get_record(
            session=session, workspace_id=user.workspace_id, entity="contact", record_id=record_id
        )
        return str(record.data.get("city"))


def _set_action(page: Any, form_id: str, label: str) -> None:
    page.goto(f"/forms/{form_id}")
    page.get_by_label("Duplicate detection").select_option(label=label)
    page.get_by_role("button", name="Save form").click()
    assert "Form saved." in page.get_by_role("status").inner_text()


def test_build_a_form_and_submit_it_with_each_action(
    page: Any,
    browser: Any,
    live_server: LiveServer,
    crm: tuple[UiUser, str],
    screenshot: Callable[..., Path],
) -> None:
    user, ada = crm
    browser_sign_in(page, user, "/forms")
    page.get_by_role("link", name="New form").click()
    assert page.get_by_label("Entity").input_value() == "contact"
    page.get_by_label("Form name").fill("Contact us")
    page.get_by_label("Input name for Email").fill("work_email")
    page.get_by_label("Label for Email").fill("Work e-mail")
    page.get_by_role("checkbox", name="City", exact=True).check()
    page.get_by_label("Thank-you message").fill("Thanks, Ada will write back.")
    picker = page.get_by_label("Duplicate detection")
    assert picker.input_value() == "skip"  # Skip preselected
    assert "Matched on Email" in page.locator("#f-dedup-mode-hint").inner_text()
    screenshot(page, "form-builder")
    page.get_by_role("button", name="Create form").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Form created: Contact us"
    url = page.get_by_label("Public URL").input_value()
    token = page.get_by_label("Token (for the API: X-Form-Token)").input_value()
    assert token.startswith("wbf_") and url.endswith(f"?token={token}")
    form_id = url.split("/f/")[1].split("?")[0]
    with session_scope(live_server.sessions) as session:
        stored = forms.get_form(session=session, workspace_id=user.workspace_id, form_id=form_id)
        assert stored.token_hash != token and token not in str(stored.fields)
        assert [i["name"] for i in stored.fields][-1] == "city"

    # Skip: the existing contact stays as it was
    context, public = _submit_publicly(browser, live_server, url, "Paris")
    context.close()
    assert _decisions(live_server, user, form_id) == [("skipped", ada)]
    assert _city(live_server, user, ada) == "London"

    # Update: the mapped fields of the existing contact are overwritten
    _set_action(page, form_id, "Update the existing record")
    context, public = _submit_publicly(browser, live_server, url, "Paris")
    context.close()
    assert _decisions(live_server, user, form_id)[-1] == ("updated", ada)
    assert _city(live_server, user, ada) == "Paris"

    # Off: a new contact every time
    _set_action(page, form_id, "Off, always create a new record")
    context, public = _submit_publicly(browser, live_server, url, "Rome")
    screenshot(public, "form-public-thanks", full_page=False)
    context.close()
    decision, created = _decisions(live_server, user, form_id)[-1]
    assert decision == "created" and created != ada
    assert _city(live_server, user, created) == "Rome"
    assert _city(live_server, user, ada) == "Paris"

    page.goto(f"/forms/{form_id}")
    cells = page.locator("#submission-list tbody tr td:nth-child(2)").all_inner_texts()
    assert cells == ["skipped", "updated", "created"]
    screenshot(page, "form-submissions")


def test_public_form_keeps_what_was_typed_when_a_required_input_is_missing(
    page: Any, live_server: LiveServer, crm: tuple[UiUser, str], screenshot: Callable[..., Path]
) -> None:
    user, _ = crm
    with session_scope(live_server.sessions) as session:
        form, token = forms.create_form(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            name="Newsletter",
            fields=[
                {"name": "email", "field": "email", "label": "E-mail", "required": True},
                {"name": "first_name", "field": "first_name", "label": "First name"},
            ],
        )
    page.goto(f"/f/{form.id}?token={token}")
    assert page.get_by_role("heading", level=1).inner_text() == "Newsletter"
    page.get_by_label("First name").fill("Grace")
    screenshot(page, "form-public")
    page.get_by_label("E-mail").evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Send").click()
    assert "E-mail is required" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("First name").input_value() == "Grace"
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    with session_scope(live_server.sessions) as session:
        rows, _ = forms.list_submissions(
            session=session, workspace_id=user.workspace_id, form_id=form.id
        )
    assert [r.decision for r in rows] == ["created"]
