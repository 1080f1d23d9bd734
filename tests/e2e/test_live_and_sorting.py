"""In Chromium, against the system `make run` starts: a payment made from outside (the
customer paying the invoice through the sandbox) shows on the provider's open page within
the refresh interval, without a click, with a toast; and money sorts as numbers.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import ROOT, LiveSystem
from tests.e2e.test_browser_flow import PROVIDER_EMAIL, TIMEOUT_MS, settled
from tests.e2e.test_pages_per_role import DESKTOP, ROLES, sign_in_as

REFRESH_WAIT_MS = 30_000  # the page refreshes every 5 s; the webhook comes first


def open_invoice_of_provider(system: LiveSystem) -> int:
    """A completed job of the provider's whose current invoice is open."""
    with closing(sqlite3.connect(system.data_dir / "app.db")) as db:
        row = db.execute(
            "SELECT jobs.id FROM jobs"
            " JOIN service_providers ON service_providers.id = jobs.provider_id"
            " JOIN stripe_invoices ON stripe_invoices.job_id = jobs.id"
            "  AND stripe_invoices.is_current AND stripe_invoices.status = 'open'"
            " WHERE service_providers.email = ? AND jobs.status = 'completed'"
            " ORDER BY jobs.id LIMIT 1",
            (PROVIDER_EMAIL,),
        ).fetchone()
    assert row is not None, "the demo has no open invoice for the provider"
    return int(row[0])


def pay_from_outside(system: LiveSystem, job_id: int, card: str = "visa") -> None:
    """The customer pays with a test card (`core.cli pay-test-invoice --card`): the sandbox
    marks the invoice paid and sends the webhook."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")},
        "STRIPE_API_BASE": system.sandbox,
        "DATABASE_URL": f"sqlite:///{system.data_dir / 'app.db'}",
        "DEMO_CLOCK_FILE": str(system.data_dir / "clock.json"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "pay-test-invoice", str(job_id), "--card", card],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def sort_by(page: Page, grid: Locator, title: str) -> Locator:
    """Sort the grid ascending by the column `title`; its header cell.

    The grid draws on a canvas; its hidden accessible copy names the sorted column with an
    arrow. So click along the header row until that column's cell has one."""
    box = grid.bounding_box()
    assert box is not None
    column = grid.locator("table[role=grid] thead th", has_text=title).first
    for x in range(40, int(box["width"]), 30):
        page.mouse.click(box["x"] + x, box["y"] + 18)
        try:
            expect(column).to_have_text(re.compile("^[↑↓]"), timeout=1_500)
        except AssertionError:
            continue  # another column's header
        if (column.text_content() or "").startswith("↓"):
            page.mouse.click(box["x"] + x, box["y"] + 18)
        expect(column).to_have_text(re.compile("^↑"))
        return column
    raise AssertionError(f"no header cell sorts by {title}")


def test_a_payment_from_outside_shows_without_a_click(
    browser: Browser, live_system: LiveSystem
) -> None:
    job_id = open_invoice_of_provider(live_system)
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["provider"])
        page.goto(f"{live_system.dashboard}/my_jobs?job={job_id}")
        drawer = page.get_by_role("dialog")
        expect(drawer.get_by_text(f"Job #{job_id}", exact=False).first).to_be_visible()
        settled(page)
        expect(drawer.get_by_text("Job: completed")).to_be_visible()

        pay_from_outside(live_system, job_id)  # no click in the browser from here on

        toast = page.get_by_test_id("stToast").filter(has_text=f"for job #{job_id}")
        expect(toast.first).to_be_visible(timeout=REFRESH_WAIT_MS)
        expect(page.get_by_role("dialog").get_by_text("Job: paid")).to_be_visible(
            timeout=REFRESH_WAIT_MS
        )
    finally:
        context.close()


def test_prices_sort_as_amounts(browser: Browser, live_system: LiveSystem) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["admin"])
        page.goto(f"{live_system.dashboard}/all_jobs")
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        settled(page)
        price = sort_by(page, grid, "Price")
        rows = grid.locator("table[role=grid] tbody tr")
        column = int(price.get_attribute("aria-colindex") or 0) - 1
        prices = [
            float(row.locator("td").nth(column).text_content() or "nan") for row in rows.all()
        ]
        assert len(prices) > 5, prices
        assert prices == sorted(prices), prices  # as amounts: "$445" after "$50"
    finally:
        context.close()
