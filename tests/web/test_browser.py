"""The web UI in headless Chromium (Playwright): sign-in, expiry, logout, CSRF, dashboard,
records list and detail, isolation, headers; screenshots of the main screens.

SQLite only: the HTTP tests (test_auth_http.py) cover both databases; these cover the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from dupeguard.services import intake
from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope
from dupeguard.store.tables import UiSession, utcnow
from tests.web.conftest import LiveServer, UiUser, browser_sign_in


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


@pytest.fixture
def crm(live_server: LiveServer, ui_user: Callable[..., UiUser]) -> UiUser:
    """An admin of a workspace with 60 contacts (e-mail is the match key), one edited."""
    user = ui_user(email="ada@example.com")
    rows = [
        intake.Inbound(
            {
                "first_name": f"Person{i:02d}",
                "last_name": "Lovelace" if i % 2 else "Hopper",
                "email": f"p{i}@example.com",
                "city": "London",
            }
        )
        for i in range(60)
    ]
    with session_scope(live_server.sessions) as session:
        intake.submit_many(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rows=rows,
            source="import",
        )
    with session_scope(live_server.sessions) as session:
        set_match_keys(
            session=session, workspace_id=user.workspace_id, entity="contact", fields=["email"]
        )
    with session_scope(live_server.sessions) as session:
        intake.submit(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"email": "p7@example.com", "city": "Paris"}),
            source="api",
            mode="update",
        )
    return user


def test_sign_in_wrong_password_then_right(
    page: Any, crm: UiUser, screenshot: Callable[..., Path]
) -> None:
    page.goto("/records")
    assert page.url.endswith("/login?next=%2Frecords")
    page.get_by_label("E-mail").fill(crm.email)
    page.get_by_label("Password").fill("not the password")
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong e-mail or password."
    assert page.get_by_label("E-mail").input_value() == crm.email  # kept
    page.get_by_label("Password").fill(crm.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/records")
    assert page.get_by_role("heading", level=1).inner_text() == "Records"
    assert page.get_by_role("link", name="Records").get_attribute("aria-current") == "page"


def test_expired_session_returns_to_sign_in_with_a_message(
    page: Any, crm: UiUser, live_server: LiveServer
) -> None:
    browser_sign_in(page, crm)
    with session_scope(live_server.sessions) as session:
        session.execute(update(UiSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    page.get_by_role("link", name="Records").click()
    page.wait_for_url("**/login?**")
    assert "Your session expired" in page.get_by_role("status").inner_text()
    page.get_by_label("E-mail").fill(crm.email)
    page.get_by_label("Password").fill(crm.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/records")  # back where the user was going


def test_logout_revokes_and_the_old_cookie_is_useless(page: Any, crm: UiUser) -> None:
    browser_sign_in(page, crm)
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login?m=signed_out")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.context.add_cookies(cookies)  # the cookie as it was before signing out
    page.goto("/")
    assert "/login" in page.url


def test_a_forged_csrf_token_is_refused_with_a_clear_message(page: Any, crm: UiUser) -> None:
    browser_sign_in(page, crm)
    page.locator("form.signout input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Form not accepted"
    assert "Nothing was saved" in page.locator("main").inner_text()
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "Acme"  # still signed in


def test_dashboard_shows_counts_sets_and_credits(
    page: Any, crm: UiUser, screenshot: Callable[..., Path]
) -> None:
    browser_sign_in(page, crm)
    assert page.locator("#credits").inner_text() == "100"
    assert page.locator("#open-sets").inner_text() == "0"
    row = page.locator("#record-counts tr", has_text="contact")
    assert row.locator("td.num").inner_text() == "60"
    screenshot(page, "dashboard")


def test_records_list_pages_and_searches(
    page: Any, crm: UiUser, screenshot: Callable[..., Path]
) -> None:
    browser_sign_in(page, crm, "/records")
    first_page = page.locator("#records tbody tr")
    assert first_page.count() == 50
    screenshot(page, "records")
    page.get_by_role("link", name="Next page").click()
    assert page.locator("#records tbody tr").count() == 10
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="First page").click()
    assert page.locator("#records tbody tr").count() == 50

    page.get_by_label("Search").fill("P7@Example.com")
    page.get_by_role("button", name="Search").click()
    assert "match key email" in page.locator("#search-note").inner_text()
    assert page.locator("#records tbody tr").count() == 1
    page.get_by_label("Search").fill("lovelace")
    page.get_by_role("button", name="Search").click()
    assert page.locator("#records tbody tr").count() == 30
    assert "30 records found" in page.locator("#search-note").inner_text()

    page.get_by_label("Entity").select_option("lead")  # app.js submits the form
    page.wait_for_url("**entity=lead**")
    assert "No records" in page.locator("main").inner_text()


def test_record_detail_shows_values_and_activity(
    page: Any, crm: UiUser, screenshot: Callable[..., Path]
) -> None:
    browser_sign_in(page, crm, "/records?entity=contact&q=p7%40example.com")
    page.locator("#records tbody a").first.click()
    page.wait_for_url("**/records/contact/**")
    values = page.locator("#values").inner_text()
    assert "Person07" in values and "Paris" in values
    feed = page.locator("#activity > li")
    assert feed.count() == 2
    assert "updated" in feed.nth(0).inner_text() and "London → Paris" in feed.nth(0).inner_text()
    assert "created" in feed.nth(1).inner_text()
    screenshot(page, "record-detail")


def test_another_workspaces_record_is_a_404(
    page: Any, crm: UiUser, ui_user: Callable[..., UiUser], live_server: LiveServer
) -> None:
    with session_scope(live_server.sessions) as session:
        outcome = intake.submit(
            session=session,
            workspace_id=crm.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"first_name": "Hidden"}),
            source="api",
        )
    browser_sign_in(page, ui_user(name="Other"))
    response = page.goto(f"/records/contact/{outcome.record_id}")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    assert "Hidden" not in page.content()


def test_security_headers_and_no_csp_violations(page: Any, crm: UiUser) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto("/login")
    browser_sign_in(page, crm)
    for path in ("/", "/records", "/records?entity=contact&q=london"):
        response = page.goto(path)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    # app.js ran under the policy (it disables a form's buttons on submit)
    assert page.evaluate("typeof window.dupeguard.csrf") == "function"
    assert not [p for p in problems if "Content Security Policy" in p], problems


def test_phone_width_layout(page: Any, crm: UiUser, screenshot: Callable[..., Path]) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    browser_sign_in(page, crm, "/records")
    # the page itself does not scroll sideways; the table scrolls in its own box
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.get_by_role("button", name="Sign out").is_visible()
    screenshot(page, "records-phone", full_page=False)
