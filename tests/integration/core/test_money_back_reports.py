"""Money that moved back, in finance's reports, exports and overview: real paid jobs (credited
as the admin's manual payment does), refunds and disputes recorded and settled under the
job's lock as the webhooks do. Gross stays on the payment's date, a refund falls in the
period of the refund, a lost dispute in the period it closed; net is gross less both; the
exports carry them per payment and per refund or dispute; receivables do not move; on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.billing.invoice_copies import lock_job
from core.billing.money_back import record_dispute, record_refund, settle
from core.billing.payments import credit_payment
from core.context import AppContext
from core.db.models import Job, Payment, Service, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import aging, export_jobs, export_sources, overview, reports
from core.reporting.earnings import ledger_mismatches
from core.reporting.export_sources import DetailSpec
from core.reporting.money_back_export import MONEY_BACK_COLUMNS
from tests.support.factories import marketplace, new_job

FINANCE = Actor("finance", 1)
OCT_1, DEC_31 = date(2026, 10, 1), date(2026, 12, 31)
FORMULA_MEMO = '=HYPERLINK("http://x","refund")'


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass(frozen=True)
class Shop:
    jobs: dict[str, int]  # by letter, see `shop`
    unpaid_job: int


def paid(
    session: Session,
    customer: Any,
    provider: Any,
    service: Any,
    price: int,
    *,
    completed: datetime,
    paid_at: datetime,
) -> int:
    job = new_job(session, customer, provider, service, price=price)
    payment = session.scalars(select(Payment).where(Payment.job_id == job.id)).one()
    job.status, job.completed_at, payment.amount = "completed", completed, price
    session.flush()
    assert credit_payment(session, job, payment, paid_at=paid_at, method="manual")
    return job.id


def refund(
    session: Session, job_id: int, refund_id: str, amount: int, created: datetime, **more: Any
) -> None:
    """A refund recorded and settled under the job's lock, as the webhook handlers do."""
    payment_id = session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one()
    lock_job(session, job_id)
    record_refund(
        session,
        refund_id=refund_id,
        job_id=job_id,
        payment_id=payment_id,
        amount=amount,
        currency="usd",
        created=created,
        **{"status": "succeeded", **more},
    )
    settle(session, job_id)


def dispute(
    session: Session, job_id: int, dispute_id: str, amount: int, created: datetime, **more: Any
) -> None:
    payment_id = session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one()
    lock_job(session, job_id)
    record_dispute(
        session,
        dispute_id=dispute_id,
        job_id=job_id,
        payment_id=payment_id,
        amount=amount,
        currency="usd",
        created=created,
        **more,
    )
    settle(session, job_id)


@pytest.fixture
def shop(ctx: AppContext) -> Shop:
    """Two providers and two categories; five paid jobs:

    A  Rivera, Home Repair, $200 paid 10 Nov: refunded $50 on 3 Dec (and $10 that failed, 4 Dec)
    B  BrightSpark, Electrical, $300 paid 20 Nov: disputed 25 Nov, lost 10 Dec
    C  BrightSpark, Home Repair, $100 paid 5 Dec: disputed 15 Dec, still open (held)
    D  Rivera, Home Repair, $80 paid 1 Dec (completed 30 Nov): wholly refunded 1 Dec (pending)
    E  Rivera, Home Repair, $50 paid 15 Oct: disputed 2 Nov, won 20 Nov
    and one completed job not paid (in the receivables)."""
    with session_scope(ctx.sessions) as session:
        customer, rivera, plumbing = marketplace(session)
        bright = ServiceProvider(name="BrightSpark", email="dev@example.com")
        wiring = Service(name="Wiring", category="Electrical", base_price=30000)
        session.add_all([bright, wiring])
        session.flush()
        jobs = {
            "A": paid(
                session, customer, rivera, plumbing, 20000, completed=at(11, 9), paid_at=at(11, 10)
            ),
            "B": paid(
                session, customer, bright, wiring, 30000, completed=at(11, 19), paid_at=at(11, 20)
            ),
            "C": paid(
                session, customer, bright, plumbing, 10000, completed=at(12, 4), paid_at=at(12, 5)
            ),
            "D": paid(
                session, customer, rivera, plumbing, 8000, completed=at(11, 30), paid_at=at(12, 1)
            ),
            "E": paid(
                session, customer, rivera, plumbing, 5000, completed=at(10, 14), paid_at=at(10, 15)
            ),
        }
        unpaid = new_job(session, customer, rivera, plumbing, price=4200)
        unpaid.status, unpaid.completed_at = "completed", at(12, 1)
        session.flush()
        session.execute(update(Payment).where(Payment.job_id == unpaid.id).values(amount=4200))
    with session_scope(ctx.sessions) as session:
        refund(
            session,
            jobs["A"],
            "re_a",
            5000,
            at(12, 3),
            reason="requested_by_customer",
            memo=FORMULA_MEMO,
            credit_note_id="cn_a",
        )
        refund(session, jobs["A"], "re_a_failed", 1000, at(12, 4), status="failed")
        dispute(session, jobs["B"], "dp_b", 30000, at(11, 25), status="needs_response")
        dispute(session, jobs["B"], "dp_b", 30000, at(11, 25), status="lost", closed_at=at(12, 10))
        dispute(
            session,
            jobs["C"],
            "dp_c",
            10000,
            at(12, 15),
            status="needs_response",
            reason="fraudulent",
        )
        refund(
            session, jobs["D"], "re_d", 8000, at(12, 1, 15), status="pending", memo="+1 goodwill"
        )
        dispute(session, jobs["E"], "dp_e", 5000, at(11, 2), status="under_review")
        dispute(session, jobs["E"], "dp_e", 5000, at(11, 2), status="won", closed_at=at(11, 20))
    return Shop(jobs, unpaid.id)


def report(
    ctx: AppContext,
    group_by: reports.Grouping,
    start: date = OCT_1,
    end: date = DEC_31,
    basis: reports.Basis = "paid",
) -> reports.Report:
    with session_scope(ctx.readers) as session:
        return reports.payments_received(
            session, actor=FINANCE, start=start, end=end, group_by=group_by, basis=basis
        )


def figures(row: reports.ReportRow) -> tuple[Any, ...]:
    return (row.label, row.payments, row.gross, row.refunded, row.disputed, row.net, row.held)


def test_by_month_a_refund_falls_in_the_month_of_the_refund(ctx: AppContext, shop: Shop) -> None:
    by_month = report(ctx, "month")
    assert [figures(r) for r in by_month.rows] == [
        ("2026-10-01", 1, 5000, 0, 0, 5000, 0),  # E's won dispute takes nothing
        ("2026-11-01", 2, 50000, 0, 0, 50000, 0),  # A and B keep their gross here
        # C and D paid; A's and D's refunds (not the failed one), B's loss; C's dispute held.
        ("2026-12-01", 2, 18000, 13000, 30000, -25000, 10000),
    ]
    assert figures(by_month.total) == ("Total", 5, 73000, 13000, 30000, 30000, 10000)
    with session_scope(ctx.readers) as session:
        # All time, net is what the providers' earnings hold (the ledger's rule).
        assert session.scalar(select(func.sum(ServiceProvider.earnings))) == 30000
        assert ledger_mismatches(session) == []

    by_day = {r.label: r for r in report(ctx, "day", date(2026, 12, 1), date(2026, 12, 10)).rows}
    assert figures(by_day["2026-12-01"]) == ("2026-12-01", 1, 8000, 8000, 0, 0, 0)
    assert figures(by_day["2026-12-03"]) == ("2026-12-03", 0, 0, 5000, 0, -5000, 0)
    assert figures(by_day["2026-12-04"])[3] == 0  # the failed refund
    assert figures(by_day["2026-12-10"]) == ("2026-12-10", 0, 0, 0, 30000, -30000, 0)
    by_week = {r.label: r for r in report(ctx, "week", date(2026, 11, 30), DEC_31).rows}
    assert by_week["2026-11-30"].refunded == 13000  # the Monday of 1 and 3 December


def test_the_completed_basis_moves_the_gross_and_leaves_refunds_on_their_date(
    ctx: AppContext, shop: Shop
) -> None:
    by_month = report(ctx, "month", basis="completed")
    assert [figures(r) for r in by_month.rows] == [
        ("2026-10-01", 1, 5000, 0, 0, 5000, 0),
        ("2026-11-01", 3, 58000, 0, 0, 58000, 0),  # D was completed on 30 November
        ("2026-12-01", 1, 10000, 13000, 30000, -33000, 10000),
    ]
    assert "refund" in dict(reports.money_back_notes("completed"))["Refunded"]


def test_by_provider_and_category_money_back_belongs_to_the_job(
    ctx: AppContext, shop: Shop
) -> None:
    december = date(2026, 12, 1)
    assert [figures(r) for r in report(ctx, "provider", december).rows] == [
        ("BrightSpark", 1, 10000, 0, 30000, -20000, 10000),
        ("Rivera Plumbing", 1, 8000, 13000, 0, -5000, 0),  # A's refund, not A's payment
    ]
    assert [figures(r) for r in report(ctx, "provider").rows] == [
        ("BrightSpark", 2, 40000, 0, 30000, 10000, 10000),
        ("Rivera Plumbing", 3, 33000, 13000, 0, 20000, 0),
    ]
    assert [figures(r) for r in report(ctx, "category", december).rows] == [
        ("Electrical", 0, 0, 0, 30000, -30000, 0),  # a row for money back alone
        ("Home Repair", 2, 18000, 13000, 0, 5000, 10000),
    ]
    november = report(ctx, "category", date(2026, 11, 1), date(2026, 11, 30))
    assert [figures(r) for r in november.rows] == [
        ("Electrical", 1, 30000, 0, 0, 30000, 0),
        ("Home Repair", 1, 20000, 0, 0, 20000, 0),
    ]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


def test_the_payments_export_carries_refunded_lost_and_net_to_date(
    ctx: AppContext, shop: Shop
) -> None:
    spec = DetailSpec("payments", OCT_1, DEC_31)
    table = read_csv(export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="csv"))
    header = table[0]
    assert header == [c.title for c in export_sources.PAYMENT_COLUMNS]
    assert header[7:] == [
        "Amount",
        "Refunded to date",
        "Disputes lost to date",
        "Net to date",
        "Held in open disputes",
    ]
    by_job = {int(row[2]): [cents(v) for v in row[7:]] for row in table[1:-1]}
    assert by_job == {
        shop.jobs["A"]: [20000, 5000, 0, 15000, 0],
        shop.jobs["B"]: [30000, 0, 30000, 0, 0],
        shop.jobs["C"]: [10000, 0, 0, 10000, 10000],
        shop.jobs["D"]: [8000, 8000, 0, 0, 0],
        shop.jobs["E"]: [5000, 0, 0, 5000, 0],
    }
    assert table[-1][0] == "Total"
    assert [cents(v) for v in table[-1][7:]] == [73000, 13000, 30000, 30000, 10000]


def test_the_refunds_and_disputes_export_lists_each_on_its_reports_date(
    ctx: AppContext, shop: Shop
) -> None:
    spec = DetailSpec("money_back", OCT_1, DEC_31)
    assert spec.file_name("csv") == "refunds-and-disputes-2026-10-01-to-2026-12-31.csv"
    table = read_csv(export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="csv"))
    assert table[0] == [c.title for c in MONEY_BACK_COLUMNS]
    body = [dict(zip(table[0], row, strict=True)) for row in table[1:-1]]
    assert [(r["Date"], r["Type"], r["Status"], r["Stripe id"]) for r in body] == [
        ("2026-11-20", "dispute", "won", "dp_e"),
        ("2026-12-01", "refund", "pending", "re_d"),
        ("2026-12-03", "refund", "succeeded", "re_a"),
        ("2026-12-04", "refund", "failed", "re_a_failed"),
        ("2026-12-10", "dispute", "lost", "dp_b"),
        ("2026-12-15", "dispute", "needs_response", "dp_c"),
    ]
    money = [
        (cents(r["Amount"]), cents(r["Refunded"]), cents(r["Disputes lost"]), cents(r["Held"]))
        for r in body
    ]
    assert money == [
        (5000, 0, 0, 0),
        (8000, 8000, 0, 0),
        (5000, 5000, 0, 0),
        (1000, 0, 0, 0),
        (30000, 0, 30000, 0),
        (10000, 0, 0, 10000),
    ]
    a = body[2]
    assert (int(a["Job #"]), a["Provider"], a["Category"]) == (
        shop.jobs["A"],
        "Rivera Plumbing",
        "Home Repair",
    )
    assert (a["Reason"], a["Memo"], a["Credit note"]) == (
        "requested_by_customer",
        "'" + FORMULA_MEMO,  # written as text, never a formula
        "cn_a",
    )
    assert body[1]["Memo"] == "'+1 goodwill"
    assert body[5]["Opened on"] == "2026-12-15" and body[2]["Opened on"] == ""
    assert body[4]["Opened on"] == "2026-11-25"
    # Its totals are the payments report's for the same range.
    total = report(ctx, "month").total
    assert [cents(v) for v in table[-1][8:11]] == [total.refunded, total.disputed, total.held]

    with session_scope(ctx.readers) as session:
        december = DetailSpec("money_back", date(2026, 12, 1), DEC_31)
        assert export_sources.count_rows(session, actor=FINANCE, spec=december) == 5


def test_a_refunds_and_disputes_export_can_be_made_in_the_background(
    ctx: AppContext, shop: Shop, tmp_path: Path
) -> None:
    spec = DetailSpec("money_back", OCT_1, DEC_31)
    queued = export_jobs.queue(tmp_path, actor=FINANCE, spec=spec, fmt="csv")
    done = export_jobs.run(tmp_path, queued.id, ctx.readers, actor=FINANCE)
    assert (done.state, done.rows_done, done.spec) == ("done", 6, spec)
    assert done.file_name == "refunds-and-disputes-2026-10-01-to-2026-12-31.csv"
    path = export_jobs.result(tmp_path, queued.id, actor=FINANCE)
    assert read_csv(path.read_bytes()) == read_csv(
        export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="csv")
    )


def test_the_refunds_and_disputes_workbook(ctx: AppContext, shop: Shop) -> None:
    spec = DetailSpec("money_back", OCT_1, DEC_31)
    data = export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="xlsx")
    book = load_workbook(io.BytesIO(data))
    sheet: Any = book.active
    assert sheet.title == "Refunds and disputes"
    rows = list(sheet.iter_rows())
    columns = [c.title for c in MONEY_BACK_COLUMNS]
    memo, on, refunded = columns.index("Memo"), columns.index("Date"), columns.index("Refunded")
    body = rows[1:-1]
    assert all(r[on].is_date for r in body)
    assert body[2][memo].value == "'" + FORMULA_MEMO and body[2][memo].data_type == "s"
    assert all(r[refunded].number_format == '"$"#,##0.00' for r in body)
    about: dict[Any, Any] = {
        name.value: value.value for name, value in list(book["Parameters"].iter_rows())[1:]
    }
    assert about["Report"] == "Every refund and dispute"
    assert (about["From"], about["To"]) == (
        datetime.combine(OCT_1, time()),
        datetime.combine(DEC_31, time()),
    )
    assert "closing day" in about["Date"] and "lost" in about["Disputes lost"]
    assert about["Rows"] == 6
    assert round(about["Total refunded"] * 100) == 13000
    assert round(about["Total disputes lost"] * 100) == 30000


def test_refunds_of_paid_invoices_leave_receivables_alone(ctx: AppContext, shop: Shop) -> None:
    with session_scope(ctx.readers) as session:
        before = aging.aging_summary(session, actor=FINANCE, now=at(12, 20))
        details = aging.aging_details(session, actor=FINANCE, now=at(12, 20))
    assert [d.job_id for d in details] == [shop.unpaid_job]
    assert sum(b.amount for b in before) == 4200
    with session_scope(ctx.sessions) as session:
        # Whatever is left of A, refunded too: the job stays paid, owed by nobody.
        refund(session, shop.jobs["A"], "re_a_rest", 15000, at(12, 18))
        assert session.get(Job, shop.jobs["A"]).status == "paid"  # type: ignore[union-attr]
    with session_scope(ctx.readers) as session:
        after = aging.aging_summary(session, actor=FINANCE, now=at(12, 20))
        again = aging.aging_details(session, actor=FINANCE, now=at(12, 20))
        outstanding = overview.marketplace(session, actor=FINANCE, now=at(12, 20)).outstanding
    assert after == before and again == details
    assert outstanding == overview.Figure(4200, 1)
    table = read_csv(
        export_sources.build(ctx.readers, actor=FINANCE, spec=DetailSpec("aging"), fmt="csv")
    )
    assert [int(row[0]) for row in table[1:-1]] == [shop.unpaid_job]


def test_the_overview_collects_net_and_shows_refunds_and_holds(ctx: AppContext, shop: Shop) -> None:
    now = at(12, 20, 12)
    with session_scope(ctx.readers) as session:
        figures = overview.marketplace(session, actor=FINANCE, now=now)
    assert figures.received_this_month == overview.Figure(18000, 2)
    assert figures.back_this_month == overview.MoneyBack(
        refunded=overview.Figure(13000, 2), disputes_lost=overview.Figure(30000, 1)
    )
    assert figures.this_month == overview.Figure(18000 - 13000 - 30000, 2)
    assert figures.last_month == overview.Figure(50000, 2)
    assert figures.last_month_so_far == overview.Figure(50000, 2)  # both paid by 20 Nov, 09:00
    assert figures.held_in_disputes == overview.Figure(10000, 1)
    months = {m.label: m.amount for m in figures.by_month}
    assert (months["2026-10-01"], months["2026-11-01"], months["2026-12-01"]) == (
        5000,
        50000,
        -25000,
    )

    # Last month up to this moment: a refund made on 19 November counts, one on 21 does not.
    with session_scope(ctx.sessions) as session:
        refund(session, shop.jobs["A"], "re_a_19th", 100, at(11, 19))
        refund(session, shop.jobs["A"], "re_a_21st", 200, at(11, 21))
    with session_scope(ctx.readers) as session:
        figures = overview.marketplace(session, actor=FINANCE, now=now)
    assert figures.last_month_so_far == overview.Figure(49900, 2)
    assert figures.last_month == overview.Figure(49700, 2)
    assert figures.this_month == overview.Figure(-25000, 2)
