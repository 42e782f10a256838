"""The import pages over plain HTTP on SQLite and PostgreSQL: upload → mapping → preview →
start → report and its CSV, Off mode straight to Start, bad files, double submits, members,
and another workspace's imports (404)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from dupeguard.services import intake
from dupeguard.services.entities import set_match_keys
from dupeguard.store.session import session_scope
from dupeguard.store.tables import Import, ImportRow, Record
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in

_NONCE = re.compile(r'name="form_nonce" value="([^"]+)"')
CSV = (
    "E-mail,First Name,Last Name,Notes\n"
    'ada@example.com,Ada,Lovelace,=HYPERLINK("x")\n'  # matches one stored record
    "twin@example.com,Twin,Two,\n"  # matches two stored records: a conflict
    "new@example.com,New,Person,\n"
)


def _nonce(html: str) -> str:
    found = _NONCE.search(html)
    assert found, "no form_nonce field on the page"
    return found.group(1)


def crm(live_server: LiveServer, user: UiUser) -> dict[str, str]:
    """Stored contacts: Ada once, Twin twice (then e-mail becomes the match key)."""
    rows = [
        intake.Inbound({"email": "ada@example.com", "first_name": "Ada"}),
        intake.Inbound({"email": "twin@example.com", "first_name": "Twin"}),
        intake.Inbound({"email": "twin@example.com", "first_name": "Twin"}),
    ]
    with session_scope(live_server.sessions) as session:
        done = intake.submit_many(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rows=rows,
            source="api",
            mode="off",
        )
        ids = [r.record_id for r in done]  # type: ignore[union-attr]
    with session_scope(live_server.sessions) as session:
        set_match_keys(
            session=session, workspace_id=user.workspace_id, entity="contact", fields=["email"]
        )
    return {"ada": ids[0], "twin1": ids[1], "twin2": ids[2]}


def upload(client: httpx.Client, content: bytes | str, name: str = "people.csv") -> httpx.Response:
    page = client.get("/imports/new").text
    data = {"csrf_token": csrf_of(page), "form_nonce": _nonce(page), "entity": "contact"}
    body = content.encode() if isinstance(content, str) else content
    return client.post("/imports/new", data=data, files={"file": (name, body, "text/csv")})


def selected(html: str, column_position: int) -> str | None:
    block = html.split(f'name="map-{column_position}"', 1)[1].split("</select>", 1)[0]
    found = re.search(r'<option value="([^"]*)" selected>', block)
    return found.group(1) if found else None


def wait_done(client: httpx.Client, import_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        status = client.get(f"/imports/{import_id}/status").json()
        if status["done"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def count_imports(live_server: LiveServer, workspace_id: str) -> int:
    with session_scope(live_server.sessions) as session:
        return (
            session.scalar(
                select(func.count()).select_from(Import).where(Import.workspace_id == workspace_id)
            )
            or 0
        )


def test_upload_map_preview_start_report(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    ids = crm(live_server, user)
    assert sign_in(client, user).status_code == 303
    answer = upload(client, CSV)
    assert answer.status_code == 303, answer.text
    mapping_url = answer.headers["location"]
    import_id = mapping_url.split("/")[2]
    assert mapping_url == f"/imports/{import_id}/mapping"

    page = client.get(mapping_url).text
    # suggested by header: E-mail → email, First Name → first_name; Notes names no field
    assert [selected(page, i) for i in range(4)] == ["email", "first_name", "last_name", None]
    assert '<option value="skip" selected>' in page
    assert 'value="preview">Preview Import</button>' in page
    assert "Don’t import" in page

    form = {
        "csrf_token": csrf_of(page),
        "form_nonce": _nonce(page),
        "map-0": "email",
        "map-1": "first_name",
        "map-2": "",
        "map-3": "",
        "dedup_mode": "update",
        "action": "preview",
    }
    answer = client.post(mapping_url, data=form)
    assert answer.headers["location"] == f"/imports/{import_id}/preview"
    preview = client.get(f"/imports/{import_id}/preview").text
    counts = dict(re.findall(r"<dt>(\w+)</dt><dd>([\d,]+)</dd>", preview))
    assert counts == {
        "Created": "1",
        "Updated": "0",
        "Skipped": "1",  # Ada: same first name, nothing changes
        "Conflict": "1",
        "Blocked": "0",
        "Error": "0",
    }
    assert ids["twin1"] in preview and ids["twin2"] in preview
    with session_scope(live_server.sessions) as session:  # nothing written yet
        assert session.scalar(select(func.count()).select_from(Record)) == 3
    conflicts = client.get(f"/imports/{import_id}/preview", params={"decision": "conflict"}).text
    table = conflicts.split('id="rows"')[1]
    assert re.findall(r'<td class="num">(\d+)</td>', table) == ["2"]  # the conflict row only
    assert ids["twin1"] in table and ids["twin2"] in table

    start = {"csrf_token": csrf_of(preview), "form_nonce": _nonce(preview)}
    answer = client.post(f"/imports/{import_id}/start", data=start)
    assert answer.headers["location"] == f"/imports/{import_id}"
    again = client.post(f"/imports/{import_id}/start", data=start)  # double submit
    assert again.headers["location"] == f"/imports/{import_id}"
    status = wait_done(client, import_id)
    assert status["status"] == "completed" and status["processed_rows"] == 3
    report = client.get(f"/imports/{import_id}")
    assert "already sent" in report.text  # the second Start was not applied
    # the report opens on the conflicts, with their matched records linked
    assert f'href="/records/contact/{ids["twin1"]}"' in report.text
    assert f'href="/records/contact/{ids["twin2"]}"' in report.text
    everything = client.get(f"/imports/{import_id}", params={"decision": "all"}).text
    assert f'href="/records/contact/{ids["ada"]}"' in everything
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Record)) == 4
        stored = session.scalar(select(Import).where(Import.id == import_id))
        assert stored is not None and stored.counts["conflict"] == 1

    download = client.get(f"/imports/{import_id}/report.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(download.text)))
    assert lines[0][:3] == ["row_number", "decision", "record_id"]
    assert [line[1] for line in lines[1:]] == ["skipped", "conflict", "created"]
    assert set(lines[2][3].split(";")) == {ids["twin1"], ids["twin2"]}

    listing = client.get("/imports").text
    assert "people.csv" in listing and "completed" in listing


def test_off_mode_starts_directly_and_members_may_import(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    admin = ui_user()
    crm(live_server, admin)
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    sign_in(client, member)
    mapping_url = upload(client, CSV).headers["location"]
    import_id = mapping_url.split("/")[2]
    page = client.get(mapping_url).text
    form = {
        "csrf_token": csrf_of(page),
        "form_nonce": _nonce(page),
        "map-0": "email",
        "map-1": "first_name",
        "map-2": "last_name",
        "map-3": "",
        "dedup_mode": "off",
        "action": "start",
    }
    answer = client.post(mapping_url, data=form)
    assert answer.headers["location"] == f"/imports/{import_id}"
    assert wait_done(client, import_id)["status"] == "completed"
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Record)) == 6
        decisions = session.scalars(
            select(ImportRow.decision).where(ImportRow.import_id == import_id)
        )
        assert list(decisions) == ["created"] * 3

    # Skip with match keys never writes before a preview, whatever the button said
    mapping_url = upload(client, CSV).headers["location"]
    page = client.get(mapping_url).text
    form.update(csrf_token=csrf_of(page), form_nonce=_nonce(page), dedup_mode="skip")
    assert client.post(mapping_url, data=form).headers["location"].endswith("/preview")


def test_a_bad_mapping_is_shown_again_with_the_choices_kept(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    mapping_url = upload(client, CSV).headers["location"]
    page = client.get(mapping_url).text
    form = {
        "csrf_token": csrf_of(page),
        "form_nonce": _nonce(page),
        "map-0": "email",
        "map-1": "email",
        "map-2": "last_name",
        "map-3": "",
        "dedup_mode": "update",
        "action": "start",
    }
    answer = client.post(mapping_url, data=form)
    assert answer.status_code == 400
    assert "both map to field &#39;email&#39;" in answer.text
    assert [selected(answer.text, i) for i in range(4)] == ["email", "email", "last_name", None]
    assert '<option value="update" selected>' in answer.text
    form["map-1"] = "first_name"  # corrected, the same form (its nonce was freed) goes through
    assert client.post(mapping_url, data=form).status_code == 303


def test_no_match_keys_reads_start_import(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    page = client.get(upload(client, CSV).headers["location"]).text
    assert 'value="start">Start Import</button>' in page
    assert "has no match keys" in page


def test_bad_files_get_a_clear_message_and_nothing_is_stored(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    sign_in(client, user)
    cases = {
        b"email,name\nada@example.com,Ada,extra\n": "line 2",
        b"email,name\n\xff\xfe\xfa,x\n": "not UTF-8",
        b"": "the file is empty",
        b"email,name\n": "no data rows",
    }
    for content, words in cases.items():
        answer = upload(client, content)
        assert answer.status_code == 400, content
        assert "The file was not imported:" in answer.text
        assert words in answer.text
        assert 'role="alert"' in answer.text
        assert "Upload a CSV file" in answer.text  # the form again
    live_server.app.state.import_max_bytes = 100
    answer = upload(client, "email\n" + "a@example.com\n" * 20)
    assert answer.status_code == 400
    assert "larger than the 100 bytes import limit" in answer.text
    assert count_imports(live_server, user.workspace_id) == 0


def test_upload_bigger_than_the_app_body_limit_is_accepted(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    """The upload path has the import limit, not the 10 MiB of other bodies."""
    sign_in(client, ui_user())
    line = "someone.with.a.long.address@example.com,Somebody Withalongname,Lastname\n"
    content = "email,first_name,last_name\n" + line * (11 * 1024 * 1024 // len(line))
    answer = upload(client, content)
    assert answer.status_code == 303, answer.text[:300]


def test_another_workspaces_import_is_not_found(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    owner = ui_user()
    sign_in(client, owner)
    import_id = upload(client, CSV).headers["location"].split("/")[2]
    with httpx.Client(base_url=live_server.url) as other:
        sign_in(other, ui_user(name="Other"))
        token = csrf_of(other.get("/imports/new").text)
        for path in ("", "/mapping", "/preview", "/status", "/report.csv"):
            assert other.get(f"/imports/{import_id}{path}").status_code == 404, path
        for path in ("/mapping", "/start", "/resume"):
            answer = other.post(f"/imports/{import_id}{path}", data={"csrf_token": token})
            assert answer.status_code == 404, path
        assert "people.csv" not in other.get("/imports").text
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(Import.status).where(Import.id == import_id)) == "uploaded"
