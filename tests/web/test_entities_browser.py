"""Entities → Fields in headless Chromium (seed 001): mark match keys from the Rules tab of
Edit Field, reorder them on the priority strip, an ineligible type's disabled toggle with its
reason, and a member's read-only view. SQLite only (test_entities_http.py covers both
databases)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dupeguard.services.entities import entity_of, match_key_fields
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, browser_sign_in


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


def _keys(live_server: LiveServer, user: UiUser, entity: str = "contact") -> list[str]:
    with session_scope(live_server.sessions) as session:
        target = entity_of(session=session, workspace_id=user.workspace_id, name=entity)
        return [f.name for f in match_key_fields(session=session, entity_id=target.id)]


def _rules_tab(page: Any) -> None:
    page.get_by_role("navigation", name="Field settings").get_by_role("link", name="Rules").click()


def _mark_key(page: Any, label: str) -> None:
    page.get_by_role("link", name=f"Edit Field {label}", exact=True).click()
    _rules_tab(page)
    box = page.get_by_label("Use as match key for duplicate detection")
    assert not box.is_checked()
    with page.expect_navigation():
        box.check()  # saves at once: the checkbox submits its form
    assert f"{label} is now a match key." in page.get_by_role("status").inner_text()
    assert page.get_by_label("Use as match key for duplicate detection").is_checked()
    page.get_by_role("link", name="Back to the fields").click()


def test_mark_match_keys_and_reorder(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
) -> None:
    user = ui_user()
    browser_sign_in(page, user, "/entities")
    assert page.get_by_role("heading", level=1).inner_text() == "Entities"
    page.get_by_role("link", name="Contact", exact=True).click()
    assert page.url.endswith("/entities/contact")
    assert page.locator("#no-keys").is_visible()
    assert page.locator(".key-strip").count() == 0

    _mark_key(page, "Email")
    assert _keys(live_server, user) == ["email"]
    assert page.locator(".key-strip").count() == 0  # one key: no strip yet
    _mark_key(page, "External id")
    assert _keys(live_server, user) == ["email", "external_id"]

    strip = page.get_by_role("region", name="Match key priority")
    assert strip.locator("li").all_inner_texts()[0].strip().startswith("1. Email")
    assert strip.get_by_role("button", name="Move Email up").is_disabled()
    strip.get_by_role("button", name="Move External id up").click()
    page.wait_for_load_state()
    assert "Match key order saved: External id, Email." in page.get_by_role("status").inner_text()
    assert _keys(live_server, user) == ["external_id", "email"]
    labels = page.locator(".key-strip .chip-label").all_inner_texts()
    assert [t.split(". ", 1)[1] for t in labels] == ["External id", "Email"]
    screenshot(page, "entity-fields-priority")

    page.get_by_role("button", name="Move External id down").click()
    page.wait_for_load_state()
    assert _keys(live_server, user) == ["email", "external_id"]

    # unchecking removes the key; the strip goes with the second key
    page.get_by_role("link", name="Edit Field External id", exact=True).click()
    _rules_tab(page)
    with page.expect_navigation():
        page.get_by_label("Use as match key for duplicate detection").uncheck()
    assert "External id is no longer a match key." in page.get_by_role("status").inner_text()
    assert _keys(live_server, user) == ["email"]


def test_ineligible_type_disabled_with_reason_and_member_read_only(
    page: Any,
    browser: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
) -> None:
    admin = ui_user()
    browser_sign_in(page, admin, "/entities")
    page.get_by_label("Name", exact=True).fill("partner")
    page.get_by_label("Label").fill("Partner")
    page.get_by_role("button", name="Create entity").click()
    assert page.url.endswith("/entities/partner")
    assert "Entity Partner created." in page.get_by_role("status").inner_text()

    page.get_by_label("Name", exact=True).fill("newsletter")
    page.get_by_label("Type", exact=True).select_option("boolean")
    page.get_by_role("button", name="Add field").click()
    page.get_by_label("Name", exact=True).fill("partner_code")
    page.get_by_label("Label", exact=True).fill("Partner code")
    page.get_by_role("button", name="Add field").click()
    assert "Field Partner code added." in page.get_by_role("status").inner_text()

    page.get_by_role("link", name="Edit Field Newsletter", exact=True).click()
    _rules_tab(page)
    box = page.get_by_label("Use as match key for duplicate detection")
    assert box.is_disabled()
    reason = page.locator("#f-match-key-hint").inner_text()
    assert "a boolean has two values and cannot identify a record" in reason
    assert box.get_attribute("aria-describedby") == "f-match-key-hint"
    screenshot(page, "field-rules-ineligible")
    assert _keys(live_server, admin, "partner") == []

    # a member sees the same page and cannot change a thing
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 800})
    try:
        other = context.new_page()
        browser_sign_in(other, member, "/entities/partner/fields/partner_code?tab=rules")
        member_box = other.get_by_label("Use as match key for duplicate detection")
        assert member_box.is_disabled()
        assert "Only an admin" in other.locator("#f-match-key-hint").inner_text()
        assert other.get_by_role("button", name="Save").count() == 0
        other.goto("/entities/partner")
        assert other.get_by_role("button", name="Add field").count() == 0
        screenshot(other, "entity-fields-member-phone")
    finally:
        context.close()
