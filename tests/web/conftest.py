"""Web UI fixtures: the real app on a loopback port (tests/api/conftest.py's ``live_server``),
signed-in HTTP clients, and headless Chromium through Playwright.

- ``ui_user(role="admin", workspace_id=None, email=None)`` → :class:`UiUser` (a workspace is
  made when none is given; the password is in ``.password``).
- ``sign_in(client, user)`` signs an ``httpx.Client`` in (the real form, CSRF included);
  ``csrf_of(html)`` reads a page's CSRF token.
- ``page`` is a Playwright page in a fresh browser context with ``base_url`` set to the live
  server; ``browser_sign_in(page, user)`` signs it in through the form. Browser tests skip,
  saying why, where no Chromium is found (``DUPEGUARD_CHROMIUM``, else /usr/bin/chromium).
- ``screenshot(page, "name")`` saves a PNG: into docs/screenshots/ when
  ``DUPEGUARD_SCREENSHOTS=1`` (``make screenshots``), else into the test's tmp dir.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dupeguard.services.users import create_user
from dupeguard.services.workspaces import create_workspace
from dupeguard.store.session import session_scope
from tests.api import conftest as _api
from tests.api.conftest import LiveServer

# the API tests' fixtures and marker, shared with tests/web
pytest_configure = _api.pytest_configure
start_server = _api.start_server
live_server = _api.live_server
client = _api.client
workspace = _api.workspace

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("DUPEGUARD_CHROMIUM", "/usr/bin/chromium")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class UiUser:
    workspace_id: str
    user_id: str
    email: str
    password: str
    role: str


@pytest.fixture
def ui_user(live_server: LiveServer) -> Callable[..., UiUser]:
    def make(
        *,
        role: str = "admin",
        workspace_id: str | None = None,
        email: str | None = None,
        password: str = "correct horse battery",
        name: str = "Acme",
    ) -> UiUser:
        email = email or f"{uuid.uuid4().hex[:8]}@example.com"
        with session_scope(live_server.sessions) as session:
            if workspace_id is None:
                workspace_id = create_workspace(session=session, name=name, credits=100).id
            user = create_user(
                session=session,
                workspace_id=workspace_id,
                email=email,
                password=password,
                role=role,
            )
            return UiUser(workspace_id, user.id, user.email, password, role)

    return make


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: httpx.Client, user: UiUser, **extra: str) -> httpx.Response:
    """Sign ``client`` in through the form; returns the POST's response (303 when it worked)."""
    token = csrf_of(client.get("/login").text)
    data = {"email": user.email, "password": user.password, "csrf_token": token, **extra}
    return client.post("/login", data=data)


# --- browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's chromium package or set "
            "DUPEGUARD_CHROMIUM to a Chromium executable"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 800})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def browser_sign_in(page: Any, user: UiUser, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[..., Path]:
    """``screenshot(page, "records-list")`` → the PNG's path (see the module doc)."""

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        if os.environ.get("DUPEGUARD_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            target = SCREENSHOTS / f"{name}.png"
        else:
            target = tmp_path / f"{name}.png"
        page.screenshot(path=str(target), full_page=full_page)
        return target

    return take
