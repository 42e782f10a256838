"""Duplicates review in headless Chromium: queue → side by side → merge (survivor and one
field's value) → the record page shows the merge → Undo merge; Not a duplicate (kept out by a
rerun); keyboard shortcuts; a duplicate job started from the page, with progress.

SQLite only: tests/web/test_duplicates_http.py covers both databases over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dupeguard.services import duplicate_jobs as jobs
from dupeguard.services import intake
from dupeguard.services import record_sets as sets
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Record
from tests.web.conftest import LiveServer, UiUser, browser_sign_in

PEOPLE = [
    # two pairs of duplicates and some distinct people
    {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "city": "London",
    },
    {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0018",
        "city": "Londn",
    },
    {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.example",
        "city": "Arlington",
    },
    {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.example",
        "city": "New York",
    },
    {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.org", "city": "Wilmslow"},
    {
        "first_name": "Katherine",
        "last_name": "Johnson",
        "email": "kj@example.net",
        "city": "Hampton",
    },
]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'dupeguard.db'}"


def seed(live_server: LiveServer, workspace_id: str, people: list[dict[str, str]]) -> list[str]:
    with session_scope(live_server.sessions) as session:
        intake.submit_many(
            session=session,
            workspace_id=workspace_id,
            entity="contact",
            rows=[intake.Inbound({k: v for k, v in p.items() if v}) for p in people],
            source="import",
            mode="off",
        )
    with session_scope(live_server.sessions) as session:
        return list(
            session.scalars(
                select(Record.id).where(Record.workspace_id == workspace_id).order_by(Record.id)
            )
        )


def run_job(live_server: LiveServer, workspace_id: str) -> str:
    with session_scope(live_server.sessions) as session:
        # the calibrated similarity of six records is low: a threshold that finds the two pairs
        job = jobs.create(
            session=session, workspace_id=workspace_id, entity="contact", threshold=0.3
        )
        job_id = job.id
    assert jobs.run_job(live_server.sessions, job_id) == "completed"
    return job_id


def open_sets(live_server: LiveServer, workspace_id: str) -> list[Any]:
    with session_scope(live_server.sessions) as session:
        found, _ = sets.list_sets(session=session, workspace_id=workspace_id)
        return found


@pytest.fixture
def reviewed(live_server: LiveServer, ui_user: Callable[..., UiUser]) -> UiUser:
    user = ui_user(email="rev@example.com")
    seed(live_server, user.workspace_id, PEOPLE)
    run_job(live_server, user.workspace_id)
    assert len(open_sets(live_server, user.workspace_id)) == 2
    return user


def test_review_merge_then_undo(
    page: Any, live_server: LiveServer, reviewed: UiUser, screenshot: Callable[..., Path]
) -> None:
    browser_sign_in(page, reviewed, "/duplicates")
    queue = page.locator("#queue")
    assert queue.locator("tbody tr").count() == 2
    screenshot(page, "duplicates-queue")
    page.locator("#queue tbody tr").filter(has_text="Ada").get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Review: 2 contact records"
    table = page.locator("#side-by-side")
    assert table.locator("tr.matched").filter(has_text="email").count() == 1
    assert "Keys:" in page.locator("#keys").inner_text()
    screenshot(page, "duplicates-review")
    # survivor: the record in "London" without a phone; city: the other one's ("Londn")
    survivors = page.get_by_label("Survivor")
    assert survivors.count() == 2
    city_row = table.locator("tbody tr").filter(has=page.locator("th", has_text="city"))
    cells = city_row.locator("td")
    london = next(i for i in range(2) if cells.nth(i).inner_text().startswith("London"))
    survivors.nth(london).check()
    cells.nth(1 - london).get_by_label("Keep this").check()
    page.get_by_role("button", name="Merge").click()
    assert "Merged 1 record into" in page.get_by_role("status").first.inner_text()
    # the queue moved on to the other set
    assert "Grace" in page.locator("#side-by-side").inner_text()
    assert len(open_sets(live_server, reviewed.workspace_id)) == 1
    with session_scope(live_server.sessions) as session:
        records = {
            r.id: r
            for r in session.scalars(
                select(Record).where(Record.workspace_id == reviewed.workspace_id)
            )
        }
    survivor = next(
        r for r in records.values() if r.data.get("first_name") == "Ada" and r.merged_into is None
    )
    assert survivor.data["city"] == "Londn"  # the chosen value
    assert survivor.data["phone"]  # automatic: the survivor had none, the duplicate's kept
    page.goto(f"/records/contact/{survivor.id}")
    merges = page.locator("#merges")
    assert "Merged 1 record into this one" in merges.inner_text()
    assert "merged" in page.locator("#activity").inner_text()
    screenshot(page, "record-undo-merge")
    page.get_by_role("button", name="Undo merge").click()
    assert "Merge undone" in page.get_by_role("status").first.inner_text()
    with session_scope(live_server.sessions) as session:
        back = session.get(Record, survivor.id)
        assert back is not None and back.data["city"] == "London"
        assert all(
            r.merged_into is None and r.deleted_at is None
            for r in session.scalars(
                select(Record).where(Record.workspace_id == reviewed.workspace_id)
            )
        )
    assert len(open_sets(live_server, reviewed.workspace_id)) == 2  # the set is open again
    assert page.get_by_role("button", name="Undo merge").count() == 0


def test_not_a_duplicate_stays_out_after_a_rerun(
    page: Any, live_server: LiveServer, reviewed: UiUser
) -> None:
    browser_sign_in(page, reviewed, "/duplicates")
    page.locator("#queue tbody tr").filter(has_text="Grace").get_by_role("link").click()
    page.get_by_role("button", name="Not a duplicate").click()
    assert "Marked as not a duplicate." in page.get_by_role("status").first.inner_text()
    page.goto("/duplicates")
    assert "Grace" not in page.locator("#queue").inner_text()
    run_job(live_server, reviewed.workspace_id)
    page.reload()
    assert page.locator("#queue tbody tr").count() == 1
    assert "Grace" not in page.locator("#queue").inner_text()


def test_keyboard_shortcuts(page: Any, live_server: LiveServer, reviewed: UiUser) -> None:
    browser_sign_in(page, reviewed, "/duplicates")
    page.get_by_role("link", name="Start reviewing").click()
    first = page.url
    page.keyboard.press("j")  # skip to the next set
    page.wait_for_url(lambda url: url != first)
    second = page.url
    assert "/duplicates/" in second
    with page.expect_navigation():  # the form posts, then redirects to the next set
        page.keyboard.press("n")  # not a duplicate
    assert "Marked as not a duplicate." in page.get_by_role("status").first.inner_text()
    assert len(open_sets(live_server, reviewed.workspace_id)) == 1
    page.goto(first)
    with page.expect_navigation():
        page.keyboard.press("m")  # merge with the defaults
    assert "Merged 1 record into" in page.get_by_role("status").first.inner_text()
    assert open_sets(live_server, reviewed.workspace_id) == []


def test_start_a_job_and_watch_it_finish(
    page: Any,
    live_server: LiveServer,
    ui_user: Callable[..., UiUser],
    screenshot: Callable[..., Path],
) -> None:
    user = ui_user()
    seed(live_server, user.workspace_id, PEOPLE)
    browser_sign_in(page, user, "/duplicates")
    assert page.locator("#queue-empty").is_visible()
    page.get_by_label("Entity", exact=True).nth(1).select_option("contact")
    page.get_by_label("Threshold (0–1)").fill("0.3")
    page.get_by_role("button", name="Start duplicate job").click()
    assert "/duplicates/jobs/" in page.url
    assert page.get_by_label("Progress").count() == 1
    page.get_by_role("link", name="Review the 2 sets found").wait_for(timeout=30_000)
    assert page.locator("#job-status").inner_text() == "completed"
    screenshot(page, "duplicate-job")
    page.get_by_role("link", name="Review the 2 sets found").click()
    assert page.locator("#queue tbody tr").count() == 2
