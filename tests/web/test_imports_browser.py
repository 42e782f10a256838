"""The import flow in headless Chromium: upload → mapping (suggested fields, the Duplicate
detection picker) → Preview Import with counts → Start → progress → report with a conflict and
its matched records → CSV download; Off mode reads Start Import; a bad CSV shows its error.

SQLite only: test_imports_http.py covers both databases over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dupeguard.services import imports as svc
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, browser_sign_in
from tests.web.test_imports_http import CSV, crm


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


def _upload(page: Any, tmp_path: Path, content: str, name: str = "people.csv") -> None:
    target = tmp_path / name
    target.write_text(content, encoding="utf-8")
    page.goto("/imports")
    page.get_by_role("link", name="Upload a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(target))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()


def test_import_with_preview_progress_and_report(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
    tmp_path: Path,
) -> None:
    user = ui_user()
    ids = crm(live_server, user)
    browser_sign_in(page, user, "/imports")
    assert page.get_by_role("link", name="Import").get_attribute("aria-current") == "page"
    _upload(page, tmp_path, CSV)

    assert page.get_by_role("heading", level=1).inner_text() == "Map the columns of people.csv"
    assert page.get_by_label("E-mail").input_value() == "email"
    assert page.get_by_label("First Name").input_value() == "first_name"
    assert page.get_by_label("Notes").input_value() == ""  # Don't import
    picker = page.get_by_label("When a row matches a stored record")
    assert picker.input_value() == "skip"
    go = page.locator("#import-go")
    assert go.inner_text() == "Preview Import"
    picker.select_option("off")
    assert go.inner_text() == "Start Import"
    picker.select_option("update")
    assert go.inner_text() == "Preview Import"
    page.get_by_label("Last Name").select_option("")
    screenshot(page, "import-mapping")
    page.set_viewport_size({"width": 375, "height": 800})  # phone width: nothing spills over
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1200, "height": 800})
    go.click()
    page.wait_for_url("**/preview")

    counts = page.locator("#counts")
    assert counts.locator(".count-created dd").inner_text() == "1"
    assert counts.locator(".count-skipped dd").inner_text() == "1"
    assert counts.locator(".count-conflict dd").inner_text() == "1"
    assert "Nothing has been written yet" in page.locator("main").inner_text()
    screenshot(page, "import-preview")
    page.get_by_role("button", name="Start Import").click()

    page.wait_for_selector("h1:has-text('Import report')")
    rows = page.locator("#rows tbody tr")
    assert rows.count() == 1  # the report opens on the conflicts
    assert rows.first.locator(".decision").inner_text() == "conflict"
    for twin in (ids["twin1"], ids["twin2"]):
        assert rows.first.get_by_role("link", name=twin).get_attribute("href") == (
            f"/records/contact/{twin}"
        )
    screenshot(page, "import-report")
    page.get_by_role("link", name="All rows").click()
    assert page.locator("#rows tbody tr").count() == 3
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("row_number,decision,record_id,matched_ids")
    assert ",conflict,," in text
    page.get_by_role("link", name=ids["ada"]).first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Contact record"


def test_progress_bar_follows_the_running_import(
    page: Any, live_server: LiveServer, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    with session_scope(live_server.sessions) as session:
        item = svc.upload(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            filename="slow.csv",
            content=CSV.encode(),
        )
        import_id = item.id
    with session_scope(live_server.sessions) as session:
        svc.set_mapping(
            session=session,
            workspace_id=user.workspace_id,
            import_id=import_id,
            mapping={"E-mail": "email"},
            dedup_mode="off",
        )
    with session_scope(live_server.sessions) as session:
        svc.start(session=session, workspace_id=user.workspace_id, import_id=import_id)
    browser_sign_in(page, user, f"/imports/{import_id}")  # started, its runner not yet
    assert page.get_by_role("heading", level=1).inner_text() == "Importing slow.csv"
    bar = page.get_by_label("Rows imported")
    assert bar.evaluate("e => e.tagName") == "PROGRESS"
    assert bar.get_attribute("value") == "0" and bar.get_attribute("max") == "3"
    assert page.get_by_role("link", name="Refresh").get_attribute("href") == (
        f"/imports/{import_id}"
    )
    svc.run_in_background(live_server.sessions, import_id).join(timeout=30)
    page.wait_for_selector("h1:has-text('Import report')")  # the poller reloaded the page
    assert page.locator("#counts .count-created dd").inner_text() == "3"


def test_off_mode_reads_start_import_and_a_bad_csv_shows_its_error(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
    tmp_path: Path,
) -> None:
    user = ui_user(role="member")
    browser_sign_in(page, user, "/imports")
    _upload(page, tmp_path, "email,first_name\nada@example.com,Ada,Lovelace\n", "ragged.csv")
    alert = page.get_by_role("alert")
    assert "The file was not imported: line 2" in alert.inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Upload a CSV file"
    screenshot(page, "import-bad-file")

    crm(live_server, user)  # e-mail is a match key now
    _upload(page, tmp_path, CSV)
    page.get_by_label("When a row matches a stored record").select_option("off")
    page.get_by_role("button", name="Start Import").click()
    page.wait_for_selector("h1:has-text('Import report')")
    assert page.locator("#counts .count-created dd").inner_text() == "3"
    assert page.locator("#counts .count-conflict dd").inner_text() == "0"
