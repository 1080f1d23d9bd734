"""From "job done" to "money received" in a real browser, against the system `make run` starts.

A provider marks a new job complete on the dashboard, the customer pays the invoice on the
sandbox's hosted page with a test card, and the signed webhook shows up on the provider's
dashboard: the job paid in the table, the balance up by the job's price, and a "Payment
Received" notification. Screenshots of every step go to tests/e2e/artifacts/.

Streamlit reruns the script after every interaction and keeps the old elements on the page
until the new run replaces them, so a wait must be for something only the finished rerun
shows: the exact job count (worked out from the database beforehand), a given job's row or
heading, or (for a rerun of the same page) a script run that finished after the click. And
a button is clicked only once the run that drew it is over: a click during the run can be
lost.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import LiveSystem

PROVIDER_EMAIL = "maria@riveraplumbing.example"
PROVIDER_PASSWORD = "provider-demo"
TIMEOUT_MS = 30_000  # Streamlit renders asynchronously, and the machine has 2 cores
WEBHOOK_WAIT_S = 40.0  # the webhook, plus the dashboard's 30 s read cache at worst


class Steps:
    """Numbered full-page screenshots, one per step."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        for old in folder.glob("step-*.png"):
            old.unlink()

    def shot(self, page: Page, name: str) -> None:
        self.count += 1
        page.screenshot(path=self.folder / f"step-{self.count:02d}-{name}.png", full_page=True)


def cents(text: str) -> int:
    """Parse an amount: "$3,540.00" → 354000."""
    match = re.fullmatch(r"\s*\$([0-9,]+)\.([0-9]{2})\s*", text)
    assert match is not None, f"not an amount: {text!r}"
    return int(match.group(1).replace(",", "")) * 100 + int(match.group(2))


def dollars(amount: int) -> str:
    return f"${amount // 100:,}.{amount % 100:02d}"


def metric(page: Page, label: str) -> Locator:
    return (
        page.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
        .get_by_test_id("stMetricValue")
    )


def settled(page: Page) -> None:
    """Wait until Streamlit's script run is over, so no element is from the previous run.

    Call it after the new run's first sign (a heading, a message) is on the page: one that
    the page before the rerun cannot show.
    """
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


# Counts the script runs that finished (the app's script state went to "notRunning"), from
# a MutationObserver installed on first use; returns the count so far.
FINISHED_RUNS = """() => {
  if (window.__finishedRuns === undefined) {
    window.__finishedRuns = 0;
    new MutationObserver((records) => {
      records.forEach((record, index) => {
        const later = records.slice(index + 1).find((r) => r.target === record.target);
        const value = later ? later.oldValue : record.target.getAttribute(record.attributeName);
        if (value === "notRunning" && record.oldValue !== "notRunning") {
          window.__finishedRuns += 1;
        }
      });
    }).observe(document.body, {
      subtree: true,
      attributes: true,
      attributeOldValue: true,
      attributeFilter: ["data-test-script-state"],
    });
  }
  return window.__finishedRuns;
}"""


def rerun(page: Page, action: Callable[[], None]) -> None:
    """Do `action`, which makes Streamlit run the script, and wait until that run is over.

    For a rerun whose page looks like the one before (the same page again), where no
    element can tell the new run from the old.
    """
    settled(page)  # a run still going would count as this one
    before = page.evaluate(FINISHED_RUNS)
    action()
    page.wait_for_function(
        "before => window.__finishedRuns > before && document.querySelector("
        "'[data-testid=stApp]').getAttribute('data-test-script-state') === 'notRunning'",
        arg=before,
    )


def go_to(page: Page, title: str, link: str | re.Pattern[str] | None = None) -> None:
    """Follow a sidebar link and wait for the run to finish with the page's heading.

    To the page shown, the heading cannot tell the new run from the old: the runs are
    counted. To another page, its heading is the sign (a count would be lost if the
    document changed since the counter was installed)."""
    nav = page.get_by_test_id("stSidebarNav").get_by_role("link", name=link or title)
    heading = page.get_by_role("heading", name=title, exact=True)
    if heading.count():
        rerun(page, nav.click)
    else:
        nav.click()
        expect(heading).to_be_visible()
        settled(page)


def jobs_caption(count: int) -> str:
    """The job count above the jobs table, as the dashboard words it."""
    return f"{count} job{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class ProviderJobs:
    total: int
    new: list[int]  # newest first, as the table lists them


def provider_jobs(system: LiveSystem, email: str) -> ProviderJobs:
    """The provider's jobs as the system's database has them (what the pages must show)."""
    with closing(sqlite3.connect(system.data_dir / "app.db")) as db:
        rows = db.execute(
            "SELECT jobs.id, jobs.status FROM jobs"
            " JOIN service_providers ON service_providers.id = jobs.provider_id"
            " WHERE service_providers.email = ?"
            " ORDER BY jobs.created_at DESC, jobs.id DESC",
            (email,),
        ).fetchall()
    return ProviderJobs(len(rows), [job_id for job_id, status in rows if status == "new"])


def sign_in(page: Page, dashboard: str) -> None:
    page.goto(dashboard)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    settled(page)
    page.get_by_role("textbox", name="E-mail").fill(PROVIDER_EMAIL)
    page.get_by_role("textbox", name="Password").fill(PROVIDER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    expect(page.get_by_text("Signed in as Rivera Plumbing & Heating")).to_be_visible()


ROW_PX = 35  # the grid's header and each row (Streamlit's default row height)


def job_rows(page: Page) -> list[list[str]]:
    """The jobs table's cells, row by row (the grid keeps an accessible copy in the DOM):
    Job #, Price (a number), Job, Invoice, Customer, Service, Payment, ..."""
    rows = page.get_by_test_id("stDataFrame").first.locator("table[role=grid] tbody tr")
    return [
        [text.strip() for text in rows.nth(index).locator("td").all_text_contents()]
        for index in range(rows.count())
    ]


def job_row(page: Page, job_id: int) -> list[str] | None:
    return next((cells for cells in job_rows(page) if cells[:1] == [str(job_id)]), None)


def until_shown(page: Page, act: Callable[[], None], shown: Locator) -> None:
    """Do `act` until `shown` is on the page, three times at most. The page redraws itself
    every few seconds (its live part); a click or a key that lands while a run draws can
    be lost, so one that changed nothing is made again (not if it took, late)."""
    for _ in range(3):
        settled(page)
        if shown.is_visible():
            break
        act()
        try:
            expect(shown).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            continue
    expect(shown).to_be_visible()
    settled(page)


def open_job(page: Page, job_id: int) -> None:
    """Select the job's row by the circle at its left, as a person does; its drawer opens."""

    def click_its_row() -> None:
        index = [cells[:1] for cells in job_rows(page)].index([str(job_id)])
        box = page.get_by_test_id("stDataFrame").first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + ROW_PX * (index + 1) + ROW_PX / 2)

    until_shown(
        page, click_its_row, page.get_by_role("heading", name=re.compile(rf"^Job #{job_id} · "))
    )


def badge(page: Page, words: str) -> Locator:
    """A status badge of the open job ("Job: paid")."""
    return page.get_by_role("dialog").get_by_text(words, exact=True)


def eventually(
    page: Page,
    title: str,
    check: Callable[[], bool],
    what: str | Callable[[], str],
    seconds: float = WEBHOOK_WAIT_S,
) -> None:
    """Reload `title`'s page at its address until `check()` holds: webhooks, the mail
    worker and the dashboard's short read cache act when they act. `what` says what did
    not happen (worked out when it is told, if a callable)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what if isinstance(what, str) else what()} within {seconds:.0f} s")
        page.wait_for_timeout(1_500)
        page.reload()
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        settled(page)


def test_provider_completes_a_job_and_the_customer_pays_it(
    live_system: LiveSystem, browser: Browser, artifacts: Path
) -> None:
    steps = Steps(artifacts)
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        # 1. Sign in as a provider.
        sign_in(page, live_system.dashboard)
        steps.shot(page, "signed-in")

        # 2. The balance before anything happens.
        go_to(page, "Earnings")
        expect(metric(page, "Balance")).to_have_text(re.compile(r"^\$[0-9,]+\.[0-9]{2}$"))
        balance_before = cents(metric(page, "Balance").inner_text())
        steps.shot(page, "earnings-before")

        # 3. A new job: filter the table to new jobs, then open the newest from its row.
        jobs = provider_jobs(live_system, PROVIDER_EMAIL)
        # Each count waited for below differs from the one it replaces (all jobs, the new
        # ones, the one searched for), so only the finished rerun can show it.
        assert jobs.new and 1 < jobs.total and len(jobs.new) < jobs.total, jobs
        job_id = jobs.new[0]
        go_to(page, "My jobs")
        expect(page.get_by_text(jobs_caption(jobs.total), exact=True)).to_be_visible()
        page.get_by_role("combobox", name="Job status").click()
        page.get_by_role("option", name="new", exact=True).click()
        page.keyboard.press("Escape")
        expect(page.get_by_text(jobs_caption(len(jobs.new)), exact=True)).to_be_visible()
        settled(page)
        open_job(page, job_id)
        expect(page).to_have_url(re.compile(rf"[?&]job={job_id}(&|$)"))  # a link to it
        expect(badge(page, "Job: new")).to_be_visible()
        expect(badge(page, "Invoice: not invoiced")).to_be_visible()
        price = cents(metric(page, "Price").inner_text())
        assert price > 0
        steps.shot(page, "new-job-selected")

        # 4. Mark it complete, confirm, and the invoice is sent.
        page.get_by_role("button", name="Mark complete").click()
        question = f"Mark job #{job_id} complete and send the customer an invoice for "
        expect(page.get_by_test_id("stAlert")).to_have_text(question + dollars(price) + "?")
        settled(page)  # a click while the run that drew the button goes on can be lost
        steps.shot(page, "confirm-complete")
        page.get_by_role("button", name="Yes, complete and invoice").click()
        success = page.get_by_test_id("stAlert").filter(has_text="Job completed. Invoice")
        expect(success).to_contain_text(" is open, due ")
        settled(page)
        expect(badge(page, "Job: completed")).to_be_visible()
        expect(badge(page, "Payment: pending")).to_be_visible()
        expect(badge(page, "Invoice: open")).to_be_visible()
        invoice_link = page.get_by_role("link", name="Open the invoice")
        expect(invoice_link).to_have_attribute(
            "href", re.compile(rf"^{re.escape(live_system.sandbox)}/i/in_\w+$")
        )
        steps.shot(page, "completed-and-invoiced")

        # 5. The customer pays on the hosted invoice page (it opens in a new tab).
        with context.expect_page() as opened:
            invoice_link.click()
        hosted = opened.value
        hosted.wait_for_load_state()
        expect(hosted.get_by_role("heading", level=1)).to_have_text(dollars(price))
        expect(hosted.locator(".status")).to_have_text("Open")
        hosted.get_by_role("textbox", name="Card number").fill("4242 4242 4242 4242")
        hosted.get_by_role("textbox", name="Expiry").fill("12 / 34")
        hosted.get_by_role("textbox", name="CVC").fill("123")
        hosted.get_by_role("textbox", name="Name on card").fill("E2E Customer")
        pay = hosted.get_by_role("button", name=f"Pay {dollars(price)}", exact=True)
        expect(pay).to_be_visible()
        steps.shot(hosted, "hosted-invoice-filled")
        pay.click()
        expect(hosted.get_by_role("alert")).to_have_text("Payment received. Thank you!")
        expect(hosted.locator(".status")).to_have_text("Paid")
        expect(hosted.get_by_text(re.compile(r"^Paid on "))).to_be_visible()
        expect(hosted.get_by_role("button", name=re.compile(r"^Pay "))).to_have_count(0)
        steps.shot(hosted, "hosted-invoice-paid")
        hosted.close()

        # 6. Back on the dashboard (same tab, same session): the job is paid in the table.
        page.bring_to_front()
        rerun(page, lambda: page.keyboard.press("Escape"))  # the job's drawer closes
        expect(page.get_by_role("dialog")).to_have_count(0)

        def drop_the_new_filter() -> None:
            # Its only chip: the job is no longer new (on an empty filter, Backspace does
            # nothing, so pressing it again is safe).
            page.get_by_role("combobox", name="Job status").click()
            page.keyboard.press("Backspace")
            page.keyboard.press("Escape")

        until_shown(
            page, drop_the_new_filter, page.get_by_text(jobs_caption(jobs.total), exact=True)
        )
        search = page.get_by_role("textbox", name="Search")
        search.fill(f"#{job_id}")
        search.press("Enter")
        expect(page.get_by_text(jobs_caption(1), exact=True)).to_be_visible()
        settled(page)
        expect(page).to_have_url(re.compile(rf"[?&]search=%23{job_id}(&|$)"))

        def paid_in_table() -> bool:
            row = job_row(page, job_id)
            return row is not None and [row[2], row[6], row[3]] == ["paid", "received", "paid"]

        # Reloading the page's address keeps the view (the search lives in it).
        eventually(page, "My jobs", paid_in_table, f"job #{job_id} not paid in the table")
        row = job_row(page, job_id)
        assert row is not None
        assert round(float(row[1]) * 100) == price, row
        open_job(page, job_id)
        expect(badge(page, "Job: paid")).to_be_visible()
        expect(badge(page, "Payment: received")).to_be_visible()
        expect(badge(page, "Invoice: paid")).to_be_visible()
        rerun(page, lambda: page.keyboard.press("Escape"))
        steps.shot(page, "job-paid-in-table")

        # 7. The balance went up by the job's price.
        expected_balance = dollars(balance_before + price)
        go_to(page, "Earnings")

        def balance_updated() -> bool:
            value = metric(page, "Balance")
            return value.count() == 1 and value.inner_text() == expected_balance

        eventually(page, "Earnings", balance_updated, f"balance not {expected_balance}")
        steps.shot(page, "earnings-after")

        # 8. The provider is told: "Payment Received" for that job.
        body = f"Payment of {dollars(price)} received for Job #{job_id}"
        go_to(page, "Notifications", link=re.compile(r"Notifications"))
        notice = page.get_by_text(body, exact=True)
        expect(notice).to_be_visible()
        card = page.get_by_test_id("stVerticalBlock").filter(has=notice).last
        expect(card).to_contain_text("Payment Received")
        expect(page.get_by_text(body, exact=True)).to_have_count(1)
        steps.shot(page, "notification")
    except BaseException:  # pytest.fail is not an Exception
        if not page.is_closed():
            steps.shot(page, "failure")
        raise
    finally:
        context.close()
