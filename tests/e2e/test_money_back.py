"""Money that goes back, in Chromium, against the system `make run` starts: a paid job
refunded from the admin's drawer shows refunded everywhere, and so does a dispute won and
a dispute lost.

Three completed jobs of the demo provider with an open invoice are paid from outside: A
with the ordinary test card, B and C with the card that pays and is then disputed. The
admin refunds A from its drawer; B's dispute is closed won and C's lost through the
sandbox, with Stripe's own SDK, as Stripe's test mode closes them. Then each drawer shows
the invoice's new word and its money-back figures, the provider's earnings and the finance
report equal what core computes from the database (and count A's refund and C's loss), and
the customer and the provider are told by e-mail (the run's mail catcher) and the provider
in the dashboard. Screenshots go to tests/e2e/artifacts/money-back/.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import stripe
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy.orm import Session

from core.config import SANDBOX_KEY
from core.db.session import make_engine, make_read_session_factory, session_scope
from core.identity.actor import Actor
from core.reporting import earnings, reports
from tests.e2e.conftest import LiveSystem
from tests.e2e.test_browser_flow import (
    PROVIDER_EMAIL,
    TIMEOUT_MS,
    WEBHOOK_WAIT_S,
    badge,
    dollars,
    eventually,
    go_to,
    settled,
)
from tests.e2e.test_live_and_sorting import pay_from_outside
from tests.e2e.test_mail_catcher import caught
from tests.e2e.test_pages_per_role import DESKTOP, ROLES, sign_in_as

MAIL_WAIT_S = 60.0  # the demo's delivery worker passes every 2 s; the machine is busy
WON_TEXT = "won: the money stays with the provider"  # core.jobs.money_back_view
LOST_TEXT = "lost: the money went back to the customer"
REASON = "Arrived two hours late"


@dataclass(frozen=True)
class PickedJob:
    id: int
    price: int  # cents
    service: str
    customer_email: str
    invoice_id: str  # the current Stripe invoice


class Shots:
    """Numbered full-page screenshots in artifacts/money-back/."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.count = 0
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, page: Page, name: str) -> None:
        if name != "failure":
            tables_drawn(page.locator("body"))  # the grids draw after the script run
        self.count += 1
        page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png", full_page=True)


def database(system: LiveSystem) -> sqlite3.Connection:
    return sqlite3.connect(system.data_dir / "app.db")


def pick_jobs(system: LiveSystem, count: int) -> list[PickedJob]:
    """The provider's newest completed jobs whose current invoice is open (the other tests
    take the oldest, or make jobs of their own)."""
    with closing(database(system)) as db:
        rows = db.execute(
            "SELECT jobs.id, jobs.price, services.name, customers.email,"
            " stripe_invoices.invoice_id FROM jobs"
            " JOIN service_providers ON service_providers.id = jobs.provider_id"
            " JOIN services ON services.id = jobs.service_id"
            " JOIN customers ON customers.id = jobs.customer_id"
            " JOIN stripe_invoices ON stripe_invoices.job_id = jobs.id"
            "  AND stripe_invoices.is_current AND stripe_invoices.status = 'open'"
            " WHERE service_providers.email = ? AND jobs.status = 'completed'"
            " ORDER BY jobs.id DESC LIMIT ?",
            (PROVIDER_EMAIL, count),
        ).fetchall()
    assert len(rows) == count, f"the demo has {len(rows)} open invoices of the provider's"
    return [PickedJob(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


@contextmanager
def core_reads(system: LiveSystem) -> Iterator[Session]:
    """A read-only session on the run's database, as the dashboard reads it."""
    engine = make_engine(f"sqlite:///{system.data_dir / 'app.db'}")
    try:
        with session_scope(make_read_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def provider_id(system: LiveSystem) -> int:
    with closing(database(system)) as db:
        (found,) = db.execute(
            "SELECT id FROM service_providers WHERE email = ?", (PROVIDER_EMAIL,)
        ).fetchone()
    return int(found)


def dispute_of(system: LiveSystem, job_id: int) -> str:
    """The id of the job's one dispute, as the webhook recorded it."""
    with closing(database(system)) as db:
        rows = db.execute(
            "SELECT dispute_id FROM stripe_disputes WHERE job_id = ?", (job_id,)
        ).fetchall()
    assert len(rows) == 1, f"job #{job_id} has disputes {rows}"
    return str(rows[0][0])


def close_dispute(client: stripe.StripeClient, job: PickedJob, recorded: str, text: str) -> str:
    """Find the dispute of the job's payment in the sandbox (its invoice's payment, the
    payment's intent and charge), check it is the one our records hold, and answer it
    with the evidence that closes it; the dispute's status after."""
    payments = client.v1.invoice_payments.list(params={"invoice": job.invoice_id})
    intents = {p.payment.payment_intent for p in payments.data if p.status == "paid"}
    assert len(intents) == 1, (job.id, [p.id for p in payments.data])
    (intent,) = intents
    disputes = [
        d for d in client.v1.disputes.list().auto_paging_iter() if d.payment_intent == intent
    ]
    assert [d.id for d in disputes] == [recorded], (job.id, [d.id for d in disputes])
    (dispute,) = disputes
    charge = client.v1.charges.retrieve(str(dispute.charge))
    assert charge.payment_intent == intent and charge.disputed
    assert dispute.status == "needs_response", dispute.status
    closed = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": text}}
    )
    return str(closed.status)


def figure(scope: Page | Locator, label: str) -> Locator:
    """The value of the metric labelled `label` inside `scope`."""
    page = scope if isinstance(scope, Page) else scope.page  # `has` is relative to each metric
    return (
        scope.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
        .get_by_test_id("stMetricValue")
    )


def shows(value: Locator, text: str) -> bool:
    return value.count() == 1 and value.inner_text().strip() == text


def drawer_heading(page: Page, job_id: int) -> Locator:
    return page.get_by_role("heading", name=re.compile(rf"^Job #{job_id} · "))


def open_drawer(page: Page, system: LiveSystem, job_id: int) -> None:
    """All jobs at the job's address: its drawer opens, over the jobs table."""
    page.goto(f"{system.dashboard}/all_jobs?job={job_id}")
    expect(drawer_heading(page, job_id)).to_be_visible()
    jobs_table = page.locator("[data-testid=stMain] [data-testid=stDataFrame]:not([role=dialog] *)")
    expect(jobs_table.first.locator("table[role=grid] tbody tr").first).to_be_attached()
    settled(page)


def drawer_until(page: Page, job_id: int, check: Callable[[], bool], what: str) -> None:
    def open_and_holds() -> bool:
        return drawer_heading(page, job_id).is_visible() and check()

    eventually(page, "All jobs", open_and_holds, f"job #{job_id}: {what}", WEBHOOK_WAIT_S)


def money_back_box(page: Page) -> Locator:
    """The drawer's "Money back" section (dashboard/components/money_back_section.py)."""
    return page.get_by_role("dialog").locator(".st-key-job_money_back")


def held_in_dispute(page: Page, price: int) -> Callable[[], bool]:
    """The drawer's check of a job whose payment a dispute holds. The dispute's row is
    opened, amount, status, evidence due by (a date while open), outcome."""
    box = money_back_box(page)

    def check() -> bool:
        if not (
            badge(page, "Invoice: disputed").is_visible()
            and shows(figure(box, "Held in dispute"), dollars(price))
        ):
            return False
        rows = table_rows(box)
        due = rows[0][3] if len(rows) == 1 and len(rows[0]) == 5 else ""
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", due) is not None and one_row(
            box, price, "evidence needed", due, "open: the money is held"
        )

    return check


def tables_drawn(scope: Locator) -> None:
    """Each table shown in `scope` has drawn its rows (the grid loads after the page runs)."""
    for grid in scope.get_by_test_id("stDataFrame").all():
        if not grid.is_visible():  # in a closed expander, or another tab
            continue
        expect(grid.locator("table[role=grid] tbody tr").first).to_be_attached()
        expect(grid.locator("canvas").first).to_be_visible()


def table_rows(scope: Locator) -> list[list[str]]:
    """The cells of the tables in `scope`, row by row, once drawn (the grid keeps an
    accessible copy in the DOM; amounts are its numbers, as "140")."""
    tables_drawn(scope)
    rows = scope.get_by_test_id("stDataFrame").locator("table[role=grid] tbody tr")
    return [
        [text.strip() for text in rows.nth(index).locator("td").all_text_contents()]
        for index in range(rows.count())
    ]


def one_row(scope: Locator, price: int, *rest: str) -> bool:
    """The table in `scope` has one row: a date, the amount `price`, then `rest`."""
    rows = table_rows(scope)
    if len(rows) != 1 or rows[0][2:] != list(rest):
        return False
    return (
        re.fullmatch(r"[0-9.]+", rows[0][1]) is not None and round(float(rows[0][1]) * 100) == price
    )


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def report_range(today: date) -> tuple[date, date]:
    """The Reports page's default date range (dashboard/app_pages/reports.py)."""
    return today.replace(day=1) - timedelta(days=365), today


def test_refunds_and_disputes_show_everywhere(
    live_system: LiveSystem, browser: Browser, artifacts: Path
) -> None:
    shots = Shots(artifacts / "money-back")
    expect.set_options(timeout=TIMEOUT_MS)
    a, b, c = pick_jobs(live_system, 3)
    pay_from_outside(live_system, a.id, "visa")
    pay_from_outside(live_system, b.id, "dispute")
    pay_from_outside(live_system, c.id, "dispute")

    context, page = new_page(browser)
    try:
        # 1. The admin refunds A, in full, from its drawer.
        sign_in_as(page, live_system.dashboard, *ROLES["admin"])
        open_drawer(page, live_system, a.id)
        drawer = page.get_by_role("dialog")
        refund_button = drawer.get_by_role("button", name="Refund…")
        drawer_until(
            page,
            a.id,
            lambda: badge(page, "Invoice: paid").is_visible() and refund_button.is_visible(),
            "not paid with a Refund… button",
        )
        expect(badge(page, "Job: paid")).to_be_visible()
        expect(figure(drawer, "Price")).to_have_text(dollars(a.price))
        shots.shot(page, "a-paid")

        refund_button.click()
        amount = drawer.get_by_role("textbox", name="Amount to refund, in dollars")
        expect(amount).to_be_visible()
        settled(page)
        expect(amount).to_have_value(f"{a.price / 100:.2f}")  # the whole payment
        expect(drawer.get_by_text(f"Refund job #{a.id} to ")).to_contain_text(
            f"{dollars(a.price)} paid, $0.00 already refunded, {dollars(a.price)} left to refund."
        )
        confirm = drawer.get_by_role("button", name=f"Refund {dollars(a.price)}", exact=True)
        expect(confirm).to_be_disabled()  # no reason yet
        reason = drawer.get_by_role("textbox", name=re.compile(r"^Reason"))
        reason.fill(REASON)
        reason.press("Enter")
        expect(confirm).to_be_enabled()  # the run that read the reason
        settled(page)
        expect(drawer.get_by_text("After this refund the job is refunded in full.")).to_be_visible()
        shots.shot(page, "a-refund-form")

        confirm.click()
        done = f"Job #{a.id} is refunded in full: {dollars(a.price)} went back to the customer"
        success = drawer.get_by_test_id("stAlert").filter(has_text=done)
        expect(success).to_be_visible()
        expect(success.get_by_test_id("stAlertContentSuccess")).to_be_visible()
        settled(page)
        expect(amount).to_have_count(0)  # the form closed
        # The drawer reran alone, and read the job again: refunded, with no page reload.
        expect(badge(page, "Invoice: refunded")).to_be_visible()
        expect(refund_button).to_have_count(0)
        expect(drawer.get_by_text("is refunded in full already; nothing is left")).to_be_visible()
        shots.shot(page, "a-refund-done")

        box = money_back_box(page)
        drawer_until(
            page,
            a.id,
            # The refund's own webhook moves it from pending to refunded (succeeded).
            lambda: (
                badge(page, "Invoice: refunded").is_visible()
                and shows(figure(box, "Refunded"), dollars(a.price))
                and one_row(box, a.price, "refunded", REASON)
            ),
            "not shown refunded",
        )
        expect(box.get_by_text("Money back", exact=True)).to_be_visible()
        expect(figure(box, "Paid")).to_have_text(dollars(a.price))
        expect(figure(box, "Held in dispute")).to_have_count(0)
        expect(figure(box, "Lost in dispute")).to_have_count(0)
        shots.shot(page, "a-refunded")

        # 2. B and C were disputed as they were paid: the money is held.
        for job in (b, c):
            open_drawer(page, live_system, job.id)
            drawer_until(
                page,
                job.id,
                held_in_dispute(page, job.price),
                "not shown disputed",
            )
            shots.shot(page, f"{'b' if job is b else 'c'}-disputed")

        # 3. B's dispute closes won, C's lost, as the sandbox (Stripe's test mode) does.
        client = stripe.StripeClient(SANDBOX_KEY, base_addresses={"api": live_system.sandbox})
        assert close_dispute(client, b, dispute_of(live_system, b.id), "winning_evidence") == "won"
        assert close_dispute(client, c, dispute_of(live_system, c.id), "losing_evidence") == "lost"

        # 4. B is paid again; C shows the dispute lost.
        open_drawer(page, live_system, b.id)
        drawer_until(
            page,
            b.id,
            lambda: (
                badge(page, "Invoice: paid").is_visible()
                and one_row(box, b.price, "won", "—", WON_TEXT)
            ),
            "not paid again after the dispute was won",
        )
        expect(figure(box, "Held in dispute")).to_have_count(0)
        expect(figure(box, "Lost in dispute")).to_have_count(0)
        expect(figure(box, "Refunded")).to_have_text("$0.00")
        shots.shot(page, "b-dispute-won")

        open_drawer(page, live_system, c.id)
        drawer_until(
            page,
            c.id,
            lambda: (
                badge(page, "Invoice: dispute lost").is_visible()
                and one_row(box, c.price, "lost", "—", LOST_TEXT)
            ),
            "not shown dispute lost",
        )
        expect(figure(box, "Lost in dispute")).to_have_text(dollars(c.price))
        expect(figure(box, "Held in dispute")).to_have_count(0)
        shots.shot(page, "c-dispute-lost")
    except BaseException:  # pytest.fail is not an Exception
        if not page.is_closed():
            shots.shot(page, "failure")
        raise
    finally:
        context.close()

    # 5. The provider's earnings: refunded and lost to disputes, as core computes them.
    provider_number = provider_id(live_system)
    provider = Actor("provider", provider_number)
    context, page = new_page(browser)
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["provider"])
        go_to(page, "Earnings")
        labels = {
            "Balance": "balance",
            "Received": "received",
            "Refunded": "refunded",
            "Lost to disputes": "dispute_lost",
            "Held in disputes": "held",
        }
        expected: dict[str, str] = {}

        def earnings_agree() -> bool:
            with core_reads(live_system) as session:
                summary = earnings.summary(session, provider_id=provider_number, actor=provider)
            expected.clear()
            expected.update({k: dollars(getattr(summary, v)) for k, v in labels.items()})
            expected["Jobs paid"] = str(summary.jobs_paid)
            counted = summary.refunded >= a.price and summary.dispute_lost >= c.price
            return counted and all(shows(figure(page, k), v) for k, v in expected.items())

        eventually(
            page, "Earnings", earnings_agree, lambda: f"earnings not {expected}", WEBHOOK_WAIT_S
        )
        with core_reads(live_system) as session:
            # The money adds up: every provider's earnings and paid jobs are their received
            # payments less what refunds and lost disputes took back.
            assert earnings.ledger_mismatches(session) == []
        shots.shot(page, "provider-earnings")

        # The provider is told in the dashboard, once each.
        go_to(page, "Notifications", link=re.compile(r"Notifications"))
        for title in (
            f"Refund of {dollars(a.price)} on job #{a.id}",
            f"Payment disputed on job #{b.id}: {dollars(b.price)} held",
            f"Dispute won on job #{b.id}: {dollars(b.price)} released",
            f"Payment disputed on job #{c.id}: {dollars(c.price)} held",
            f"Dispute lost on job #{c.id}: {dollars(c.price)} taken back",
        ):
            notice = page.get_by_test_id("stMarkdownContainer").filter(has_text=title)
            expect(notice).to_have_count(1)
        shots.shot(page, "provider-notifications")
    except BaseException:
        if not page.is_closed():
            shots.shot(page, "failure")
        raise
    finally:
        context.close()

    # 6. Finance's report of payments received: its figures are core's, refund and loss in.
    finance = Actor("finance")
    context, page = new_page(browser)
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["finance"])
        go_to(page, "Reports")
        start, end = report_range(date.today())
        title = f"Payments received by month, {start} to {end} (paid date)"
        expect(page.get_by_text(title, exact=True)).to_be_visible()
        wanted: dict[str, str] = {}

        def report_agrees() -> bool:
            with core_reads(live_system) as session:
                total = reports.payments_received(
                    session, actor=finance, start=start, end=end, group_by="month"
                ).total
            wanted.clear()
            wanted.update(
                {
                    "Gross received": dollars(total.gross),
                    "Refunded": dollars(total.refunded),
                    "Disputes lost": dollars(total.disputed),
                    "Net received": dollars(total.net),
                    "Held in open disputes": dollars(total.held),
                }
            )
            counted = total.refunded >= a.price and total.disputed >= c.price
            return counted and all(shows(figure(page, k), v) for k, v in wanted.items())

        eventually(page, "Reports", report_agrees, lambda: f"report not {wanted}", WEBHOOK_WAIT_S)
        shots.shot(page, "finance-report")
    except BaseException:
        if not page.is_closed():
            shots.shot(page, "failure")
        raise
    finally:
        context.close()

    # 7. The e-mails: the refund to the customer and to the provider, each step of the
    # disputes to the provider; each once, in the run's mail catcher.
    folder = live_system.data_dir / "mail"
    mails = [
        (a.customer_email, f"Refund of {dollars(a.price)} for job #{a.id} ({a.service})"),
        (PROVIDER_EMAIL, f"Refund of {dollars(a.price)} on job #{a.id} ({a.service})"),
        *(
            (
                PROVIDER_EMAIL,
                f"Payment disputed on job #{j.id} ({j.service}): {dollars(j.price)} held",
            )
            for j in (b, c)
        ),
        (PROVIDER_EMAIL, f"Dispute won on job #{b.id} ({b.service}): {dollars(b.price)} released"),
        (
            PROVIDER_EMAIL,
            f"Dispute lost on job #{c.id} ({c.service}): {dollars(c.price)} taken off your "
            "earnings",
        ),
    ]
    context, page = new_page(browser)
    try:
        sign_in_as(page, live_system.dashboard, *ROLES["admin"])
        go_to(page, "Mail caught")

        def all_caught() -> bool:
            sent = [(str(m["To"]), str(m["Subject"])) for m in caught(folder)]
            return all(mail in sent for mail in mails)

        eventually(page, "Mail caught", all_caught, "not every e-mail caught", MAIL_WAIT_S)
        sent = [(str(m["To"]), str(m["Subject"])) for m in caught(folder)]
        assert all(sent.count(mail) == 1 for mail in mails), [m for m in sent if m in mails]
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid.locator("table[role=grid] tbody tr").first).to_be_attached()
        newest = " ".join(grid.locator("table[role=grid] tbody").all_inner_texts())
        assert mails[-1][1] in newest, newest  # the page lists it too, among the newest
        shots.shot(page, "mail-caught")
    except BaseException:
        if not page.is_closed():
            shots.shot(page, "failure")
        raise
    finally:
        context.close()
