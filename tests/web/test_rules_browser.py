"""Rules and the audit log in headless Chromium: edit a matching rule's threshold, a
validation error shown with the values kept, a blocking duplicate rule created, the audit log
filtered and paged; screenshots of both pages.

SQLite only: test_rules_http.py covers both databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dupeguard.services import audit
from dupeguard.services import rules as rule_service
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, browser_sign_in


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


def test_edit_a_matching_rule_and_create_a_blocking_duplicate_rule(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
) -> None:
    user = ui_user()
    browser_sign_in(page, user, "/rules")
    assert page.get_by_role("heading", level=1).inner_text() == "Rules"
    page.get_by_role("link", name="Edit Standard contact matching rule").click()
    page.wait_for_url("**/rules/contact/matching/**")

    # a bad threshold: the service's message beside the form, what was typed kept
    page.get_by_label("Name", exact=True).fill("Contacts: e-mail or name and more")
    condition = page.get_by_role("group", name="Condition 2")
    condition.get_by_label("Threshold").fill("2")
    page.get_by_role("button", name="Save matching rule").click()
    alert = page.get_by_role("alert")
    assert "threshold: a number above 0 and at most 1" in alert.inner_text()
    assert (
        page.get_by_label("Name", exact=True).input_value() == "Contacts: e-mail or name and more"
    )
    condition = page.get_by_role("group", name="Condition 2")
    assert condition.get_by_label("Threshold").input_value() == "2"
    assert condition.get_by_label("Threshold").get_attribute("aria-invalid") == "true"
    screenshot(page, "rules-matching-error")

    condition.get_by_label("Threshold").fill("0.8")
    page.get_by_role("button", name="Save matching rule").click()
    page.wait_for_url("**/rules?entity=contact")
    assert "saved" in page.get_by_role("status").inner_text()
    card = page.locator("#matching-rules li", has_text="Contacts: e-mail or name and more")
    assert card.locator("td.threshold").nth(1).inner_text() == "0.8"

    # a new blocking duplicate rule on the same matching rule
    page.get_by_role("link", name="New duplicate rule").click()
    page.get_by_label("Name", exact=True).fill("Block e-mail twins")
    page.get_by_label("Contacts: e-mail or name and more").check()
    page.get_by_role("group", name="When a new record matches").get_by_label(
        "Block the save"
    ).check()
    page.get_by_label("Report: file the matches").check()
    page.get_by_role("button", name="Create duplicate rule").click()
    page.wait_for_url("**/rules?entity=contact")
    row = page.locator("#duplicate-rules tr", has_text="Block e-mail twins")
    assert "block / allow" in row.inner_text() and "reports sets" in row.inner_text()
    with session_scope(live_server.sessions) as session:
        made = rule_service.get_duplicate_rule(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rule_id="Block e-mail twins",
        )
        assert (made.action_on_create, made.action_on_edit, made.report) == (
            "block",
            "allow",
            True,
        )
        rule = rule_service.get_matching_rule(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rule_id="Contacts: e-mail or name and more",
        )
        assert rule.conditions[1]["threshold"] == 0.8
        assert made.matching_rule_ids == [rule.id]
    page.set_viewport_size({"width": 1200, "height": 800})
    screenshot(page, "rules")


def test_filter_and_page_the_audit_log(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
) -> None:
    user = ui_user()
    with session_scope(live_server.sessions) as session:
        (rule,) = rule_service.list_duplicate_rules(
            session=session, workspace_id=user.workspace_id, entity="contact"
        )
        for i in range(60):
            blocked = i % 3 == 0
            audit.record(
                session=session,
                workspace_id=user.workspace_id,
                kind="duplicate_blocked" if blocked else "duplicate_alert",
                entity="contact",
                source="import" if blocked else "api",
                record_id=f"00000000-0000-0000-0000-{i:012d}",
                matched_ids=[f"11111111-0000-0000-0000-{i:012d}"],
                rule_id=rule.id,
                rule_name=rule.name,
                action="block" if blocked else "allow",
                details={"similarity": 0.97, "fields": ["email"]},
            )
            session.flush()
    browser_sign_in(page, user, "/audit")
    entries = page.locator("#audit-entries > li")
    assert entries.count() == 50
    page.get_by_role("link", name="Next page").click()
    assert entries.count() == 10
    page.get_by_role("link", name="First page").click()
    assert entries.count() == 50

    page.get_by_label("Kind").select_option("duplicate_blocked")
    page.get_by_label("Source").select_option("import")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**kind=duplicate_blocked**")
    assert entries.count() == 20
    assert page.get_by_role("link", name="Next page").count() == 0
    first = entries.first.inner_text()
    assert "Duplicate blocked" in first and "via import" in first and "similarity" in first
    assert page.get_by_label("Kind").input_value() == "duplicate_blocked"  # kept
    screenshot(page, "audit-log")

    # a matched id links to its record (a 404 here: these ids are made up)
    link = entries.first.locator(".matched a").first
    assert link.get_attribute("href").startswith("/records/contact/11111111-")
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Record ID").fill("11111111-0000-0000-0000-000000000007")
    page.get_by_role("button", name="Filter").click()
    assert entries.count() == 1
    page.goto("/rules")
    page.locator("#duplicate-rules td.stat-hits a").first.click()
    page.wait_for_url("**/audit?rule=**")
    assert (
        entries.count() == 50
        and "Standard contact duplicate rule" in page.locator("#rule-note").inner_text()
    )
