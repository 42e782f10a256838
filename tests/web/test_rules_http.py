"""Rules and audit-log pages over plain HTTP, on SQLite and PostgreSQL, against the real app:
listing with statistics, admin edits through the rules service, validation errors with the
values kept, members refused, other workspaces' rules not found, the audit log filtered and
keyset-paged."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from html import unescape

import httpx
import pytest

from dupeguard.core.errors import DuplicatesDetected
from dupeguard.core.rule_methods import METHODS
from dupeguard.services import audit, intake
from dupeguard.services import rules as rule_service
from dupeguard.store.session import session_scope
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _standard(live_server: LiveServer, user: UiUser, entity: str = "contact") -> tuple[str, str]:
    """The ids of the entity's standard matching rule and duplicate rule."""
    with session_scope(live_server.sessions) as session:
        (matching,) = rule_service.list_matching_rules(
            session=session, workspace_id=user.workspace_id, entity=entity
        )
        (duplicate,) = rule_service.list_duplicate_rules(
            session=session, workspace_id=user.workspace_id, entity=entity
        )
        return matching.id, duplicate.id


def _matching_form(html: str) -> dict[str, str]:
    """The values an edit form shows, as a browser would send them."""
    form: dict[str, str] = {"csrf_token": csrf_of(html)}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        form[name] = unescape(value)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        first = re.search(r'<option value="([^"]*)"', body)
        form[name] = (chosen or first).group(1) if (chosen or first) else ""  # type: ignore[union-attr]
    if re.search(r'name="active" type="checkbox" checked', html):
        form["active"] = "on"
    return form


def test_rules_page_lists_rules_with_statistics(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    _, duplicate_id = _standard(live_server, user)
    with session_scope(live_server.sessions) as session:
        for kind in ("duplicate_alert", "duplicate_alert", "duplicate_blocked", "merge"):
            audit.record(
                session=session,
                workspace_id=user.workspace_id,
                kind=kind,
                entity="contact",
                rule_id=duplicate_id,
                rule_name="Standard contact duplicate rule",
            )
    sign_in(client, user)
    page = client.get("/rules", params={"entity": "contact"})
    assert page.status_code == 200
    html = page.text
    assert "Standard contact matching rule" in html and "Standard contact duplicate rule" in html
    row = re.search(r'<tr data-rule="Standard contact duplicate rule">(.*?)</tr>', html, re.S)
    assert row is not None
    stats = dict(re.findall(r'class="num stat-(\w+)">(?:<a[^>]*>)?([\d,]+)', row.group(1)))
    assert stats == {"hits": "3", "blocks": "1", "overrides": "0", "merges": "1", "rejections": "0"}
    assert "1 OR (2 AND 3 AND (4 OR 5 OR 6))" in html
    company = client.get("/rules", params={"entity": "company"}).text
    assert "Standard company matching rule" in company and "fuzzy_company" in company


def test_admin_edits_a_matching_rule_and_errors_keep_the_values(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    matching_id, _ = _standard(live_server, user)
    sign_in(client, user)
    path = f"/rules/contact/matching/{matching_id}"
    form = _matching_form(client.get(path).text)
    assert form["cond-0-field"] == "email" and form["cond-1-threshold"] == "0.85"
    assert form["expression"] == "1 OR (2 AND 3 AND (4 OR 5 OR 6))"

    # a bad threshold: 400, the service's message beside the form, the typed values kept
    bad = client.post(path, data={**form, "cond-1-threshold": "1.7", "name": "Renamed"})
    assert bad.status_code == 400
    assert "conditions[1]: threshold: a number above 0 and at most 1" in bad.text
    assert 'value="1.7"' in bad.text and 'value="Renamed"' in bad.text
    # a condition dropped but still named by the expression: refused, nothing saved
    dropped = client.post(path, data={**form, "cond-5-field": "", "csrf_token": form["csrf_token"]})
    assert dropped.status_code == 400 and 'role="alert"' in dropped.text
    with session_scope(live_server.sessions) as session:
        rule = rule_service.get_matching_rule(
            session=session, workspace_id=user.workspace_id, entity="contact", rule_id=matching_id
        )
        assert rule.name == "Standard contact matching rule" and len(rule.conditions) == 6

    saved = client.post(
        path, data={**form, "cond-1-threshold": "0.8", "form_nonce": str(uuid.uuid4())}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/rules?entity=contact"
    listing = client.get("/rules?entity=contact").text
    assert "saved." in listing
    with session_scope(live_server.sessions) as session:
        rule = rule_service.get_matching_rule(
            session=session, workspace_id=user.workspace_id, entity="contact", rule_id=matching_id
        )
        assert rule.conditions[1]["threshold"] == 0.8 and rule.version == 2


def test_admin_creates_rules_and_a_blocking_rule_blocks(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    sign_in(client, user)
    token = csrf_of(client.get("/rules/contact/matching/new").text)
    created = client.post(
        "/rules/contact/matching/new",
        data={
            "csrf_token": token,
            "name": "Same phone",
            "cond-0-field": "phone",
            "cond-0-method": "phone",
            "cond-0-threshold": "",
            "cond-0-blank": "no_match",
            "cond-1-field": "",
            "cond-1-method": "exact",
            "expression": "",
            "active": "on",
        },
    )
    assert created.status_code == 303
    with session_scope(live_server.sessions) as session:
        rules = rule_service.list_matching_rules(
            session=session, workspace_id=user.workspace_id, entity="contact"
        )
        phone = next(r for r in rules if r.name == "Same phone")
        default = METHODS["phone"].default_threshold  # an empty threshold: the default
        assert phone.conditions == [
            {"field": "phone", "method": "phone", "threshold": default, "blank": "no_match"}
        ]
    # no matching rule chosen: the service's message, the name kept
    empty = client.post(
        "/rules/contact/duplicate/new",
        data={"csrf_token": token, "name": "Phone block", "action_on_create": "block"},
    )
    assert empty.status_code == 400 and "matching_rules: a list" in empty.text
    assert 'value="Phone block"' in empty.text
    assert re.search(r'id="action_on_create-block"[^>]*checked', empty.text)
    made = client.post(
        "/rules/contact/duplicate/new",
        data={
            "csrf_token": token,
            "name": "Phone block",
            "matching_rules": phone.id,
            "action_on_create": "block",
            "action_on_edit": "allow",
            "active": "on",
        },
    )
    assert made.status_code == 303
    with session_scope(live_server.sessions) as session:
        intake.submit(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"first_name": "Ann", "phone": "+1 415 555 0100"}),
            source="api",
        )
    with session_scope(live_server.sessions) as session, pytest.raises(DuplicatesDetected):
        intake.submit(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"first_name": "Bo", "phone": "(415) 555-0100"}),
            source="api",
        )
    html = client.get("/rules?entity=contact").text
    row = re.search(r'<tr data-rule="Phone block">(.*?)</tr>', html, re.S)
    assert row is not None and 'stat-blocks">1<' in row.group(1)
    # the same name again: a conflict, shown beside the form
    again = client.post(
        "/rules/contact/duplicate/new",
        data={
            "csrf_token": token,
            "name": "Phone block",
            "matching_rules": phone.id,
            "action_on_create": "block",
            "action_on_edit": "allow",
        },
    )
    assert again.status_code == 400 and "exists already" in again.text


@SQLITE_ONLY
def test_members_see_rules_but_cannot_change_them(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    admin = ui_user()
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    matching_id, duplicate_id = _standard(live_server, admin)
    sign_in(client, member)
    html = client.get("/rules").text
    assert "Standard contact matching rule" in html
    assert "New matching rule" not in html and f"/matching/{matching_id}" not in html
    token = csrf_of(html)
    for path in (
        f"/rules/contact/matching/{matching_id}",
        f"/rules/contact/duplicate/{duplicate_id}",
        "/rules/contact/matching/new",
        "/rules/contact/duplicate/new",
    ):
        assert client.get(path).status_code == 403, path
        answer = client.post(path, data={"csrf_token": token, "name": "Hacked"})
        assert answer.status_code == 403, path
    with session_scope(live_server.sessions) as session:
        rule = rule_service.get_matching_rule(
            session=session, workspace_id=admin.workspace_id, entity="contact", rule_id=matching_id
        )
        assert rule.name == "Standard contact matching rule" and rule.version == 1


def test_another_workspaces_rules_are_not_found(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    owner = ui_user(name="Owner")
    matching_id, duplicate_id = _standard(live_server, owner)
    sign_in(client, ui_user(name="Intruder"))
    token = csrf_of(client.get("/rules").text)
    for path in (
        f"/rules/contact/matching/{matching_id}",
        f"/rules/contact/duplicate/{duplicate_id}",
        "/rules/contact/matching/Standard contact matching rule",  # by name: ids only
        "/rules/nosuchentity/matching/new",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path, data={"csrf_token": token, "name": "x"}).status_code == 404
    with session_scope(live_server.sessions) as session:
        rule = rule_service.get_matching_rule(
            session=session, workspace_id=owner.workspace_id, entity="contact", rule_id=matching_id
        )
        assert rule.version == 1


def test_audit_log_filters_and_pages(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    other = ui_user(name="Other")
    with session_scope(live_server.sessions) as session:
        for i in range(70):
            audit.record(
                session=session,
                workspace_id=user.workspace_id,
                kind="duplicate_alert" if i % 2 else "merge",
                entity="contact",
                source="import" if i % 2 else "api",
                record_id=f"rec-{i:03d}",
                matched_ids=[f"match-{i:03d}"],
                actor="user:ann@example.com" if i == 5 else None,
                details={"n": i},
            )
            session.flush()
        audit.record(
            session=session,
            workspace_id=other.workspace_id,
            kind="merge",
            entity="contact",
            record_id="secret-record",
        )
    sign_in(client, user)
    seen: list[str] = []
    url: str | None = "/audit"
    pages = 0
    while url:
        html = client.get(unescape(url)).text
        pages += 1
        seen += re.findall(r'href="/records/contact/(rec-\d{3})"', html)
        assert "secret-record" not in html
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1) if found else None
    assert pages == 2 and sorted(seen) == [f"rec-{i:03d}" for i in range(70)]

    merges = client.get("/audit", params={"kind": "merge", "source": "api"}).text
    assert len(re.findall(r'href="/records/contact/(rec-\d{3})"', merges)) == 35
    assert "/records/contact/match-000" in merges  # matched ids link to their records
    by_record = client.get("/audit", params={"record": "match-007"}).text
    assert re.findall(r'href="/records/contact/(rec-\d{3})"', by_record) == ["rec-007"]
    by_actor = client.get("/audit", params={"actor": "user:ann@example.com"}).text
    assert re.findall(r'href="/records/contact/(rec-\d{3})"', by_actor) == ["rec-005"]
    future = client.get("/audit", params={"since": "2999-01-01"}).text
    assert "No entries match these filters." in future
    today = client.get("/audit", params={"since": "2000-01-01", "until": "2999-12-31"}).text
    assert len(re.findall(r'href="/records/contact/(rec-\d{3})"', today)) == 50
    bad = client.get("/audit", params={"since": "yesterday"})
    assert bad.status_code == 200 and "since: a date such as" in bad.text
    stale = client.get("/audit", params={"after": "garbage"})
    assert stale.status_code == 200 and "cursor" in stale.text


@SQLITE_ONLY
def test_dashboard_counts_stop_at_the_cap(
    live_server: LiveServer, ui_user: Callable[..., UiUser]
) -> None:
    from dupeguard.services.browse import overview

    user = ui_user()
    with session_scope(live_server.sessions) as session:
        intake.submit_many(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rows=[intake.Inbound({"first_name": f"P{i}"}) for i in range(5)],
            source="api",
        )
    with session_scope(live_server.sessions) as session:
        exact = overview(session=session, workspace_id=user.workspace_id)
        capped = overview(session=session, workspace_id=user.workspace_id, count_cap=3)
    assert exact.record_counts["contact"] == 5 and exact.record_counts["lead"] == 0
    assert not exact.capped
    assert capped.record_counts["contact"] == 3 and capped.capped == {"contact"}
