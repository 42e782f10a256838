"""Duplicates review pages over HTTP on SQLite and PostgreSQL: the queue and its filters,
merge (once only, with a chosen value), not a duplicate, undo, job start and status (admin
only), and another workspace's ids answering 404."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from sqlalchemy import select

from dupeguard.services import duplicate_jobs as jobs
from dupeguard.services import merges
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Record
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in
from tests.web.test_duplicates_browser import PEOPLE, open_sets, run_job, seed

_NONCE = re.compile(r'name="form_nonce" value="([^"]+)"')


def _form(html: str, action: str) -> dict[str, str]:
    """The CSRF token and the nonce of the form posting to ``action``."""
    start = html.index(f'action="{action}"')
    nonce = _NONCE.search(html, start)
    assert nonce
    return {"csrf_token": csrf_of(html), "form_nonce": nonce.group(1)}


def _reviewer(live_server: LiveServer, ui_user: Callable[..., UiUser], role: str) -> UiUser:
    user = ui_user(role=role)
    seed(live_server, user.workspace_id, PEOPLE)
    run_job(live_server, user.workspace_id)
    return user


def test_queue_filters_and_pages(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = _reviewer(live_server, ui_user, "member")
    sign_in(client, user)
    page = client.get("/duplicates")
    assert page.status_code == 200 and page.text.count("/duplicates/") >= 2
    assert "Grace Hopper" in page.text and "Ada Lovelace" in page.text
    assert "Start duplicate job" not in page.text  # members do not start jobs
    assert "No open duplicate sets match" in client.get("/duplicates?min_score=99").text
    assert "Grace" in client.get("/duplicates?entity=contact&min_score=10").text
    bad = client.get("/duplicates?min_score=250", follow_redirects=True)
    assert "Minimum similarity: a number from 0 to 100." in bad.text


def test_merge_once_then_undo(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = _reviewer(live_server, ui_user, "member")
    sign_in(client, user)
    target = open_sets(live_server, user.workspace_id)[0]
    page = client.get(f"/duplicates/{target.id}")
    assert page.status_code == 200 and 'class="matched' in page.text
    with session_scope(live_server.sessions) as session:
        ids = [
            r.id
            for r in session.scalars(select(Record).where(Record.workspace_id == user.workspace_id))
        ]
    members = [i for i in ids if f'value="{i}"' in page.text]
    assert len(members) == 2
    data = {
        **_form(page.text, f"/duplicates/{target.id}/merge"),
        "survivor": members[0],
        "choice.city": members[1],
    }
    first = client.post(f"/duplicates/{target.id}/merge", data=data)
    assert first.status_code == 303
    again = client.post(f"/duplicates/{target.id}/merge", data=data)  # a double submit
    assert again.status_code == 303
    assert "already sent" in client.get(again.headers["location"]).text
    with session_scope(live_server.sessions) as session:
        found, _ = merges.list_merges(session=session, workspace_id=user.workspace_id)
        assert len(found) == 1
        merge_id = found[0].id
        survivor = session.get(Record, members[0])
        loser = session.get(Record, members[1])
        assert survivor and loser and survivor.data.get("city") == loser.data.get("city")
    record_page = client.get(f"/records/contact/{members[0]}")
    assert "Undo merge" in record_page.text
    undo = client.post(
        f"/merges/{merge_id}/undo", data=_form(record_page.text, f"/merges/{merge_id}/undo")
    )
    assert undo.status_code == 303 and undo.headers["location"] == f"/records/contact/{members[0]}"
    assert "Merge undone" in client.get(undo.headers["location"]).text
    assert len(open_sets(live_server, user.workspace_id)) == 2


def test_not_duplicate_and_jobs_admin_only(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    member = _reviewer(live_server, ui_user, "member")
    sign_in(client, member)
    target = open_sets(live_server, member.workspace_id)[0]
    page = client.get(f"/duplicates/{target.id}")
    done = client.post(
        f"/duplicates/{target.id}/not-duplicate",
        data=_form(page.text, f"/duplicates/{target.id}/not-duplicate"),
    )
    assert done.status_code == 303
    assert len(open_sets(live_server, member.workspace_id)) == 1
    refused = client.post(
        "/duplicates/jobs", data={"csrf_token": csrf_of(page.text), "entity": "contact"}
    )
    assert refused.status_code == 403
    admin = ui_user(role="admin", workspace_id=member.workspace_id)
    with httpx.Client(base_url=live_server.url, timeout=30) as other:
        sign_in(other, admin)
        queue = other.get("/duplicates")
        started = other.post(
            "/duplicates/jobs",
            data={
                **_form(queue.text, "/duplicates/jobs"),
                "method": "model",
                "entity": "contact",
                "threshold": "0.3",
            },
        )
        assert started.status_code == 303
        job_path = started.headers["location"]
        assert job_path.startswith("/duplicates/jobs/")
        for _ in range(100):
            status = other.get(job_path + "/status").json()
            if not status["active"]:
                break
            time.sleep(0.2)
        assert status["status"] == "completed"
    # the rerun kept the not-duplicate pair out
    assert len(open_sets(live_server, member.workspace_id)) == 1


def test_another_workspace_ids_are_404(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    owner = _reviewer(live_server, ui_user, "admin")
    target = open_sets(live_server, owner.workspace_id)[0]
    stranger = ui_user(role="admin")
    sign_in(client, stranger)
    assert client.get(f"/duplicates/{target.id}").status_code == 404
    token = csrf_of(client.get("/duplicates").text)
    assert (
        client.post(f"/duplicates/{target.id}/merge", data={"csrf_token": token}).status_code == 404
    )
    assert (
        client.post(
            f"/duplicates/{target.id}/not-duplicate", data={"csrf_token": token}
        ).status_code
        == 404
    )
    with session_scope(live_server.sessions) as session:
        job_id = jobs.list_jobs(session=session, workspace_id=owner.workspace_id)[0][0].id
    assert client.get(f"/duplicates/jobs/{job_id}").status_code == 404
    assert client.get(f"/duplicates/jobs/{job_id}/status").status_code == 404
    assert client.post("/merges/nope/undo", data={"csrf_token": token}).status_code == 404
    assert len(open_sets(live_server, owner.workspace_id)) == 2
