"""Every page of the dashboard, as each demo role sees it, in Chromium: each renders without
an error, and its screenshot is written to tests/e2e/artifacts/pages/ (desktop 1440×900
for every role, and the provider's pages at 390×844, where nothing may scroll sideways).

Text a customer wrote shows as text in the browser too: a job description holding a
markdown link, a markdown image and HTML tags renders none of them.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from core.seed import DEMO_ACCOUNTS, DEMO_PROVIDER_PASSWORD
from dashboard.components.session_cookie import COOKIE_NAME
from tests.e2e.conftest import LiveSystem
from tests.e2e.test_browser_flow import PROVIDER_EMAIL, TIMEOUT_MS, settled

ADMIN_EMAIL, _, _, ADMIN_PASSWORD = DEMO_ACCOUNTS[0]
FINANCE_EMAIL, _, _, FINANCE_PASSWORD = DEMO_ACCOUNTS[1]
ROLES = {
    "provider": (PROVIDER_EMAIL, DEMO_PROVIDER_PASSWORD),
    "admin": (ADMIN_EMAIL, ADMIN_PASSWORD),
    "finance": (FINANCE_EMAIL, FINANCE_PASSWORD),
}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
EVIL = (
    "[Click to confirm](http://evil.example/login) ![x](http://evil.example/pixel.png) "
    "<b>bold</b> <img src=http://evil.example/tag.png> <a href=http://evil.example/a>a</a> "
    "www.evil.example pay@evil.example"
)


# The session cookie of each account signed in through the form once this run: a later
# sign-in as that account starts from it, as a returning user's browser does, and saves
# the form's two script runs. test_sessions.py tests the form and the cookie themselves.
# Keyed by the password too: a wrong one still goes to the form. Later sign-ins share the
# first one's server-side session, so a test that signs out must sign in through the form.
_signed_in: dict[tuple[str, str, str], list[Any]] = {}  # Playwright's cookies


def sign_in_as(page: Page, dashboard: str, email: str, password: str) -> None:
    """Signed in as `email` on the dashboard's home page: with the session cookie of an
    earlier sign-in of this run while the server still takes it, else through the form."""
    cookies = _signed_in.get((dashboard, email, password))
    if cookies is not None:
        page.context.add_cookies(cookies)
        page.goto(dashboard)
        nav_or_form = page.get_by_test_id("stSidebarNav").or_(
            page.get_by_role("button", name="Sign in")
        )
        expect(nav_or_form.first).to_be_attached()  # on a phone the sidebar is closed
        settled(page)
        if page.get_by_test_id("stSidebarNav").count():
            return
        page.context.clear_cookies()  # refused (revoked, or the role changed): sign in again
    sign_in_through_the_form(page, dashboard, email, password)
    _signed_in[(dashboard, email, password)] = [
        cookie for cookie in page.context.cookies() if cookie.get("name") == COOKIE_NAME
    ]


def sign_in_through_the_form(page: Page, dashboard: str, email: str, password: str) -> None:
    """Sign in through the form, and wait for the session cookie the sign-in ends with."""
    page.goto(dashboard)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    settled(page)
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stSidebarNav]') !== null", polling=200
    )
    deadline = TIMEOUT_MS
    while COOKIE_NAME not in {c["name"] for c in page.context.cookies()}:
        assert deadline > 0, "no session cookie after signing in"
        page.wait_for_timeout(200)
        deadline -= 200
    settled(page)


def nav_pages(page: Page) -> list[tuple[str, str]]:
    """(name, address) of each page in the navigation, named by its address."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    return [
        (
            links.nth(i).inner_text().strip().splitlines()[-1],
            str(links.nth(i).get_attribute("href")),
        )
        for i in range(links.count())
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def visit_every_page(page: Page, folder: Path, prefix: str) -> list[str]:
    """Open each page of the navigation by its address (the session survives the load),
    check it has no error, and screenshot it."""
    visited = []
    for title, address in nav_pages(page):
        page.goto(address)
        nav = page.get_by_test_id("stSidebarNav").get_by_role("link", include_hidden=True)
        expect(nav).not_to_have_count(0)
        settled(page)
        expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.screenshot(path=folder / f"{prefix}-{slug(title)}.png", full_page=True)
        visited.append(title)
    return visited


@pytest.fixture(scope="module")
def pages_folder(artifacts: Path) -> Path:
    folder = artifacts / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_renders_for_each_role(
    browser: Browser, live_system: LiveSystem, pages_folder: Path, role: str
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in_as(page, live_system.dashboard, *ROLES[role])
        visited = visit_every_page(page, pages_folder, f"desktop-{role}")
        assert len(visited) >= 2, visited
    finally:
        context.close()


def test_the_provider_pages_fit_a_phone(
    browser: Browser, live_system: LiveSystem, pages_folder: Path
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["provider"])
        for title in visit_every_page(page, pages_folder, "phone-provider"):
            wide = page.evaluate("document.scrollingElement.scrollWidth")
            assert wide <= PHONE["width"] + 1, f"{title} scrolls sideways: {wide} px wide"
    finally:
        context.close()


def test_a_customers_markup_shows_as_text_in_the_browser(
    browser: Browser, live_system: LiveSystem, pages_folder: Path
) -> None:
    with closing(sqlite3.connect(live_system.data_dir / "app.db")) as db:
        (job_id,) = db.execute(
            "SELECT jobs.id FROM jobs JOIN service_providers ON service_providers.id ="
            " jobs.provider_id WHERE service_providers.email = ? AND jobs.status = 'new'"
            " ORDER BY jobs.id DESC LIMIT 1",
            (PROVIDER_EMAIL,),
        ).fetchone()
        db.execute("UPDATE jobs SET description = ? WHERE id = ?", (EVIL, job_id))
        db.commit()
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["provider"])
        page.goto(f"{live_system.dashboard}/my_jobs?job={job_id}")
        expect(page.get_by_text("Click to confirm", exact=False).first).to_be_visible()
        settled(page)
        page.screenshot(path=pages_folder / "injection-as-text.png", full_page=True)
        assert page.locator("a[href*='evil.example']").count() == 0
        assert page.locator("img[src*='evil.example']").count() == 0
        assert page.locator("b", has_text="bold").count() == 0
    finally:
        context.close()
