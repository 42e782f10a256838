"""Sign-in, sessions, CSRF, roles, headers and isolation over plain HTTP, on SQLite and
PostgreSQL (the ``db_url`` fixture), against the real app on a loopback port."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import Request, Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dupeguard.services import intake
from dupeguard.services import records as record_service
from dupeguard.services.users import hash_token
from dupeguard.store.session import session_scope
from dupeguard.store.tables import List, UiSession, utcnow
from dupeguard.web.auth import AdminDep, ViewerDep
from dupeguard.web.pages import page_router, render, run_once
from dupeguard.web.security import safe_next
from tests.web.conftest import LiveServer, UiUser, csrf_of, sign_in

# a test-only page router: how a helper adds pages (admin-only, and a once-only POST)
probe = page_router()


@probe.get("/probe/admin")
def admin_page(request: Request, viewer: AdminDep) -> Response:
    return render(request, "error.html", {"title": "Admin only", "message": "ok", "status": 200})


@probe.post("/probe/lists")
def create_list(request: Request, viewer: ViewerDep) -> Response:
    name = str(request.state.form.get("name", ""))

    def work(session: Session) -> str:
        record_service.create_list(session=session, workspace_id=viewer.workspace_id, name=name)
        return "/probe/admin"

    return run_once(request, viewer, work)


pytestmark = pytest.mark.live_server(routers=[probe])


def _cookie(client: httpx.Client) -> str:
    return client.cookies["dupeguard_session"]


def test_sign_in_opens_a_session_stored_only_as_a_hash(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user(email="Ann@Example.com")
    assert client.get("/").headers["location"] == "/login"
    answer = sign_in(
        client,
        UiUser(user.workspace_id, user.user_id, "ANN@example.com ", user.password, "admin"),
        next="/records?entity=lead",
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/records?entity=lead"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would never return
    token = _cookie(client)
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "ann@example.com" in dashboard.text and "Acme" in dashboard.text
    with session_scope(live_server.sessions) as session:
        stored = session.scalars(select(UiSession)).all()
        assert [s.token_hash for s in stored] == [hash_token(token)]
        assert token not in str([(s.id, s.token_hash) for s in stored])


@pytest.mark.parametrize(
    ("email", "password"),
    [("known", "wrong password"), ("nobody@example.com", "correct horse battery")],
)
def test_wrong_credentials_get_one_message_and_keep_the_email(
    client: httpx.Client, ui_user: Callable[..., UiUser], email: str, password: str
) -> None:
    user = ui_user()
    address = user.email if email == "known" else email
    answer = sign_in(client, UiUser(user.workspace_id, "", address, password, "admin"))
    assert answer.status_code == 400
    assert "Wrong e-mail or password." in answer.text
    assert f'value="{address}"' in answer.text
    assert "dupeguard_session" not in client.cookies


def test_the_same_email_in_two_workspaces_asks_for_the_workspace(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    first = ui_user(email="sam@example.com", name="One")
    ui_user(email="sam@example.com", name="Two")
    answer = sign_in(client, first)
    assert answer.status_code == 400
    assert "several workspaces" in answer.text and 'name="workspace"' in answer.text
    answer = sign_in(client, first, workspace=first.workspace_id)
    assert answer.status_code == 303
    assert "One" in client.get("/").text


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_sign_in_redirects_only_to_local_paths(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    for target in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        "evil.example",
    ):
        client.cookies.clear()
        answer = sign_in(client, user, next=target)
        assert answer.status_code == 303, target
        assert answer.headers["location"] == "/", target


def test_safe_next_keeps_local_paths_with_queries() -> None:
    assert safe_next("/records?entity=lead&q=a%20b") == "/records?entity=lead&q=a%20b"
    assert safe_next("/records/contact/1") == "/records/contact/1"
    assert safe_next("", "/x") == "/x"


def test_expired_and_idle_sessions_go_back_to_sign_in_with_a_message(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    assert client.get("/records").status_code == 200
    with session_scope(live_server.sessions) as session:
        session.execute(update(UiSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = client.get("/records?entity=lead")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?m=expired&next=%2Frecords%3Fentity%3Dlead"
    page = client.get(answer.headers["location"])
    assert "Your session expired" in page.text
    assert 'name="next" value="/records?entity=lead"' in page.text

    sign_in(client, ui_user())
    idle = timedelta(minutes=live_server.settings.session_idle_minutes, seconds=1)
    with session_scope(live_server.sessions) as session:
        session.execute(
            update(UiSession)
            .where(UiSession.revoked_at.is_(None), UiSession.expires_at > utcnow())
            .values(last_seen_at=utcnow() - idle)
        )
    assert client.get("/").headers["location"] == "/login?m=expired"


def test_logout_revokes_the_session_on_the_server(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    stolen = _cookie(client)
    answer = client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/login?m=signed_out"
    assert "You are signed out." in client.get("/login?m=signed_out").text
    with httpx.Client(base_url=live_server.url, cookies={"dupeguard_session": stolen}) as other:
        replay = other.get("/")
        assert replay.status_code == 303 and replay.headers["location"] == "/login?m=expired"
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(UiSession.revoked_at)) is not None


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post("/logout", data=data)
        assert answer.status_code == 403
        assert "security token is missing or out of date" in answer.text
        assert "Nothing was saved" in answer.text
    assert client.get("/").status_code == 200  # still signed in
    # the same token in the header works (fetch from app.js)
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", headers={"X-CSRF-Token": token}).status_code == 303
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(func.count()).where(UiSession.revoked_at.is_not(None))) == 1


@SQLITE_ONLY
def test_the_sign_in_form_needs_its_own_csrf_cookie(
    live_server: LiveServer, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    with httpx.Client(base_url=live_server.url) as fresh:
        answer = fresh.post(
            "/login", data={"email": user.email, "password": user.password, "csrf_token": "x"}
        )
        assert answer.status_code == 403
        assert "sign-in form had expired" in answer.text
        assert "dupeguard_session" not in fresh.cookies


@SQLITE_ONLY
def test_members_cannot_open_admin_pages(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    admin = ui_user(role="admin")
    member = ui_user(role="member", workspace_id=admin.workspace_id)
    sign_in(client, member)
    answer = client.get("/probe/admin")
    assert answer.status_code == 403 and "Only workspace admins" in answer.text
    client.cookies.clear()
    sign_in(client, admin)
    assert client.get("/probe/admin").status_code == 200


def test_a_double_submitted_form_runs_once_and_says_so(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    user = ui_user()
    sign_in(client, user)
    token = csrf_of(client.get("/").text)
    form = {
        "csrf_token": token,
        "form_nonce": "5b0c3f59-6c8e-4f1e-9a51-1b7e5c6f0a11",
        "name": "VIP",
    }
    first = client.post("/probe/lists", data=form)
    second = client.post("/probe/lists", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"] == "/probe/admin"
    assert "already sent; it was not applied a second time" in client.get("/probe/admin").text
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(func.count()).select_from(List)) == 1
    # a failing action frees its nonce: the corrected form can be sent again
    bad = {**form, "form_nonce": "0d7c1b2e-3f4a-4b5c-8d6e-7f8091a2b3c4", "name": " "}
    assert client.post("/probe/lists", data=bad).status_code == 400
    fixed = client.post("/probe/lists", data={**bad, "name": "Partners"})
    assert fixed.status_code == 303
    with session_scope(live_server.sessions) as session:
        assert session.scalar(select(func.count()).select_from(List)) == 2


def test_another_workspaces_record_is_not_found(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    owner = ui_user(name="Owner")
    with session_scope(live_server.sessions) as session:
        outcome = intake.submit(
            session=session,
            workspace_id=owner.workspace_id,
            entity="contact",
            inbound=intake.Inbound({"first_name": "Secretia", "email": "s@owner.example"}),
            source="api",
        )
    record_id = outcome.record_id
    sign_in(client, ui_user(name="Intruder"))
    for path in (
        f"/records/contact/{record_id}",
        f"/records/lead/{record_id}",
        "/records/contact/not-an-id",
        "/records/nosuchentity/x",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Secretia" not in answer.text and "s@owner.example" not in answer.text
    listing = client.get("/records", params={"entity": "contact", "q": record_id})
    assert listing.status_code == 200 and "Secretia" not in listing.text
    listing = client.get("/records", params={"entity": "contact", "q": "Secretia"})
    assert "No records match." in listing.text and "s@owner.example" not in listing.text
    client.cookies.clear()
    sign_in(client, owner)
    assert "Secretia" in client.get(f"/records/contact/{record_id}").text


@SQLITE_ONLY
def test_security_headers_on_pages_not_on_the_api(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    for path in ("/", "/login", "/records", "/no-such-page", "/static/app.css"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert client.get("/").headers["cache-control"] == "no-store"
    api = client.get("/v1/workspace")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers
    assert "content-security-policy" not in client.get("/docs").headers


@SQLITE_ONLY
def test_unknown_paths_are_an_html_page_for_browsers_json_for_others(
    client: httpx.Client,
) -> None:
    page = client.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "There is no such page here." in page.text
    other = client.get("/no-such-page")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


@SQLITE_ONLY
def test_pages_have_no_inline_script_or_style(
    client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    sign_in(client, ui_user())
    for path in ("/", "/login", "/records"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html and " on" + "click=" not in html


@SQLITE_ONLY
def test_unknown_hosts_are_refused(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(allowed_hosts="crm.example.com,127.0.0.1")
    assert httpx.get(f"{server.url}/login").status_code == 200
    assert httpx.get(f"{server.url}/login", headers={"Host": "evil.example"}).status_code == 400


@SQLITE_ONLY
def test_secure_cookies_when_configured(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(cookie_secure=True)
    with session_scope(server.sessions) as session:
        from dupeguard.services.users import create_user
        from dupeguard.services.workspaces import create_workspace

        workspace_id = create_workspace(session=session, name="S").id
        create_user(
            session=session,
            workspace_id=workspace_id,
            email="s@example.com",
            password="correct horse battery",
        )
    with httpx.Client(base_url=server.url) as http:
        login = http.get("/login")
        assert "Secure" in login.headers["set-cookie"]
        # httpx keeps Secure cookies away from http://, as browsers do: send them by hand
        answer = http.post(
            "/login",
            data={
                "email": "s@example.com",
                "password": "correct horse battery",
                "csrf_token": csrf_of(login.text),
            },
            headers={"Cookie": f"dupeguard_login_csrf={login.cookies['dupeguard_login_csrf']}"},
        )
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-dupeguard_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie


@SQLITE_ONLY
def test_sign_in_attempts_are_rate_limited(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(login_rate_limit="3/minute")
    with httpx.Client(base_url=server.url) as http:
        token = csrf_of(http.get("/login").text)
        codes = [
            http.post(
                "/login",
                data={"email": "x@example.com", "password": "nope nope nope", "csrf_token": token},
            ).status_code
            for _ in range(4)
        ]
        assert codes == [400, 400, 400, 429]
        assert (
            "Too many sign-in attempts"
            in http.post(
                "/login", data={"email": "y@example.com", "password": "p", "csrf_token": token}
            ).text
        )


def test_records_pages_and_searches_by_match_key(
    live_server: LiveServer, client: httpx.Client, ui_user: Callable[..., UiUser]
) -> None:
    from dupeguard.services.entities import set_match_keys

    user = ui_user()
    rows = [
        intake.Inbound({"first_name": f"Person{i:03d}", "email": f"p{i}@example.com"})
        for i in range(120)
    ]
    with session_scope(live_server.sessions) as session:
        intake.submit_many(
            session=session,
            workspace_id=user.workspace_id,
            entity="contact",
            rows=rows,
            source="api",
        )
    with session_scope(live_server.sessions) as session:
        set_match_keys(
            session=session, workspace_id=user.workspace_id, entity="contact", fields=["email"]
        )
    sign_in(client, user)
    seen: list[str] = []
    url: str | None = "/records?entity=contact"
    while url:
        html = client.get(url.replace("&amp;", "&")).text
        seen += re.findall(r">(Person\d{3})<", html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1) if found else None
    # every record once, over three pages (ties of created_at are broken by id)
    assert sorted(seen) == [f"Person{i:03d}" for i in range(120)]
    by_key = client.get("/records", params={"entity": "contact", "q": " P7@EXAMPLE.com"}).text
    assert "match key <strong>email</strong>" in by_key
    assert re.findall(r">(Person\d{3})<", by_key) == ["Person007"]
    by_text = client.get("/records", params={"entity": "contact", "q": "person11"}).text
    expected = [f"Person{i}" for i in range(110, 120)]
    assert sorted(re.findall(r">(Person\d{3})<", by_text)) == expected
    assert "10 records found" in by_text
    bad = client.get("/records", params={"entity": "contact", "after": "garbage"})
    assert bad.status_code == 200 and "out of date" in bad.text
