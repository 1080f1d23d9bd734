"""Dashboard sessions in a real browser, against the system `make run` starts: the HttpOnly
session cookie keeps a sign-in through a reload and into a new tab, signing out clears it
and the server refuses it afterwards, a role change in the database refuses it, and a deep
link opened signed out lands, with its query, on its page after signing in.

Every wait is for a state: the route's response, a heading, the script run being over.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.seed import DEMO_ACCOUNTS
from tests.e2e.conftest import LiveSystem

ADMIN_EMAIL, ADMIN_NAME, _, ADMIN_PASSWORD = DEMO_ACCOUNTS[0]
COOKIE = "jtp_session"
TIMEOUT_MS = 30_000


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def settled(page: Page) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def signed_in_caption(page: Page) -> Any:
    return page.get_by_text(f"Signed in as {ADMIN_NAME} (admin)")


def sign_in_form_shown(page: Page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    settled(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)


def sign_in(page: Page) -> str:
    """Fill in the form on the page shown; the Location the cookie route redirected to."""
    sign_in_form_shown(page)
    page.get_by_role("textbox", name="E-mail").fill(ADMIN_EMAIL)
    page.get_by_role("textbox", name="Password").fill(ADMIN_PASSWORD)
    with page.expect_response(lambda r: "/session/start" in r.url) as started:
        page.get_by_role("button", name="Sign in").click()
    assert started.value.status == 303, started.value.status
    expect(signed_in_caption(page)).to_be_visible()
    settled(page)
    return started.value.headers["location"]


def session_cookie(context: BrowserContext) -> dict[str, Any] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == COOKIE), None)


def database(system: LiveSystem) -> sqlite3.Connection:
    return sqlite3.connect(system.data_dir / "app.db")


def revoked_because(system: LiveSystem) -> list[str | None]:
    with closing(database(system)) as db:
        rows = db.execute("SELECT revoked_because FROM dashboard_sessions ORDER BY created_at")
        return [reason for (reason,) in rows.fetchall()]


def test_a_sign_in_survives_a_reload_and_a_new_tab_and_signing_out_ends_it(
    live_system: LiveSystem, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    page.goto(live_system.dashboard)
    assert sign_in(page) == "/"

    cookie = session_cookie(browser_context)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert COOKIE not in page.evaluate("document.cookie")  # out of reach of scripts

    page.reload()
    expect(signed_in_caption(page)).to_be_visible()
    other_tab = browser_context.new_page()
    other_tab.goto(live_system.dashboard)
    expect(signed_in_caption(other_tab)).to_be_visible()
    other_tab.close()

    settled(page)
    with page.expect_response(lambda r: "/session/end" in r.url) as ended:
        page.get_by_role("button", name="Sign out").click()
    assert ended.value.status == 303
    sign_in_form_shown(page)
    assert session_cookie(browser_context) is None
    assert revoked_because(live_system)[-1] == "signed_out"

    # The old cookie, put back, is refused by the server.
    browser_context.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(live_system.dashboard)
    sign_in_form_shown(page)
    expect(signed_in_caption(page)).to_have_count(0)


def test_a_role_change_refuses_the_session(
    live_system: LiveSystem, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    page.goto(live_system.dashboard)
    sign_in(page)

    with closing(database(live_system)) as db, db:
        db.execute("UPDATE accounts SET role = 'finance' WHERE username = ?", (ADMIN_EMAIL,))
    try:
        page.reload()
        sign_in_form_shown(page)
        expect(signed_in_caption(page)).to_have_count(0)
        assert revoked_because(live_system)[-1] == "role_changed"
    finally:
        with closing(database(live_system)) as db, db:
            db.execute("UPDATE accounts SET role = 'admin' WHERE username = ?", (ADMIN_EMAIL,))
    # Restoring the role does not bring the revoked session back.
    page.reload()
    sign_in_form_shown(page)


def test_a_deep_link_opened_signed_out_lands_on_its_page_after_signing_in(
    live_system: LiveSystem, browser_context: BrowserContext
) -> None:
    with closing(database(live_system)) as db:
        (job_id,) = db.execute("SELECT MAX(id) FROM jobs").fetchone()
    link = f"/all_jobs?job={job_id}&source=e-mail"
    page = browser_context.new_page()
    page.goto(live_system.dashboard + link)
    # The sign-in form at the link's own address, not "page not found" on the home page.
    expect(page).to_have_url(re.compile(rf"/all_jobs\?job={job_id}&source=e-mail$"))

    assert sign_in(page) == link
    expect(page.get_by_role("heading", name="All jobs", exact=True)).to_be_visible()
    assert page.url.split("?")[0].endswith("/all_jobs")
