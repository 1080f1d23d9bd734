"""The detail exports read back equal the database: every received payment (dates as UTC
dates, formula-like names quoted, amounts exact, a total equal to the payments report's)
and every unpaid job of the receivables aging (the same rows as `receivables_aging`), in
CSV and in XLSX, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from core.billing.invoice_status import PROGRESS_RANK
from core.context import AppContext
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.db.session import session_scope
from core.errors import Forbidden, InvalidInput
from core.identity.actor import Actor
from core.reporting import aging, export_sources, reports
from core.reporting.export_sources import DetailSpec, Provenance, ReportSpec
from core.reporting.exports import safe_text
from core.seed import seed_demo
from tests.support.factories import new_job

FINANCE = Actor("finance", 1)
DANGEROUS_CUSTOMER = '=HYPERLINK("http://x")'
DANGEROUS_PROVIDER = "@SUM(A1:A9)"


@dataclass(frozen=True)
class World:
    now: datetime
    start: date
    end: date
    edge_jobs: dict[str, int]


def _received(session: Any, job: Job, at: datetime, *, completed: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(status="paid", completed_at=completed, paid_at=at)
    )
    session.execute(
        update(Payment)
        .where(Payment.job_id == job.id)
        .values(amount=job.price, status="received", method="stripe", marked_at=at)
    )


@pytest.fixture
def world(ctx: AppContext) -> World:
    """The demo marketplace, plus payments on the edges of UTC days by a customer and a
    provider whose names read as formulas, and invoice copies that put unpaid jobs in
    every aging bucket."""
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        seed_demo(session, now=now)
    today = now.date()
    with session_scope(ctx.sessions) as session:
        customer = Customer(name=DANGEROUS_CUSTOMER, email="formula@example.com")
        provider = ServiceProvider(name=DANGEROUS_PROVIDER, email="at@example.com")
        service = session.scalars(select(Service).limit(1)).one()
        session.add_all([customer, provider])
        session.flush()
        edges = {}
        last_second = datetime.combine(today - timedelta(days=3), time(23, 59, 59), UTC)
        first_second = datetime.combine(today - timedelta(days=2), time(0, 0, 1), UTC)
        for name, at, price in (("last", last_second, 12345), ("first", first_second, 99)):
            job = new_job(session, customer, provider, service, price=price)
            _received(session, job, at, completed=at - timedelta(hours=30))
            edges[name] = job.id

        unpaid = session.scalars(
            select(Job).where(Job.status == "completed").order_by(Job.id).limit(6)
        ).all()
        for index, (job, days_late) in enumerate(zip(unpaid, (-3, 0, 5, 20, 45, 90), strict=True)):
            status = "void" if index == 1 else "open"  # a void invoice leaves a job unbilled
            session.add(
                StripeInvoice(
                    invoice_id=f"in_export_{job.id}",
                    job_id=job.id,
                    customer="cus_export",
                    status=status,
                    status_rank=PROGRESS_RANK[status],
                    currency="usd",
                    amount_due=job.price,
                    amount_paid=0,
                    amount_remaining=job.price,
                    created=now - timedelta(days=100),
                    due_date=now - timedelta(days=days_late, hours=1),
                    is_current=True,
                    sent_at=now - timedelta(days=100),
                )
            )
    return World(now, today - timedelta(days=400), today, edges)


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data)).active


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


def payments_in_db(ctx: AppContext, spec: DetailSpec) -> list[tuple[Any, ...]]:
    """Received payments in the range, read independently: dates worked out in Python."""
    assert spec.start is not None and spec.end is not None
    when = Payment.marked_at if spec.basis == "paid" else Job.completed_at
    with session_scope(ctx.sessions) as session:
        rows: Any = session.execute(
            select(
                Payment.marked_at,
                Job.completed_at,
                Job.id,
                ServiceProvider.name,
                Customer.name,
                Service.category,
                Payment.method,
                Payment.amount,
            )
            .join(Job, Job.id == Payment.job_id)
            .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
            .join(Customer, Customer.id == Job.customer_id)
            .join(Service, Service.id == Job.service_id)
            .where(Payment.status == "received")
            .order_by(when, Job.id)
        ).all()
    start, end = spec.start, spec.end
    return [
        (paid.date(), done.date(), *rest)
        for paid, done, *rest in rows
        if start <= (paid if spec.basis == "paid" else done).date() <= end
    ]


def test_payments_csv_reads_back_equal_the_database(ctx: AppContext, world: World) -> None:
    spec = DetailSpec("payments", world.start, world.end)
    expected = payments_in_db(ctx, spec)
    assert len(expected) > 100
    table = read_csv(export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="csv"))
    assert table[0] == [c.title for c in export_sources.PAYMENT_COLUMNS]
    body, total = table[1:-1], table[-1]
    assert [
        (date.fromisoformat(a), date.fromisoformat(b), int(j), p, c, cat, m, cents(amount))
        for a, b, j, p, c, cat, m, amount, *_ in body
    ] == [(*r[:3], safe_text(r[3]), safe_text(r[4]), *r[5:]) for r in expected]
    assert all(len(row[7].split(".")[1]) == 2 for row in body)
    assert total[0] == "Total" and cents(total[7]) == sum(r[7] for r in expected)
    # Nothing was refunded or disputed: each payment's net is its amount, nothing held.
    assert all(row[8:] == ["0.00", "0.00", row[7], "0.00"] for row in body)

    by_job = {int(row[2]): row for row in body}
    last, first = by_job[world.edge_jobs["last"]], by_job[world.edge_jobs["first"]]
    assert (last[0], last[3], last[4]) == (
        str(world.end - timedelta(days=3)),
        "'" + DANGEROUS_PROVIDER,
        "'" + DANGEROUS_CUSTOMER,
    )
    assert first[0] == str(world.end - timedelta(days=2))


def test_payments_xlsx_reads_back_equal_the_database(ctx: AppContext, world: World) -> None:
    spec = DetailSpec("payments", world.start, world.end)
    expected = payments_in_db(ctx, spec)
    data = export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="xlsx")
    sheet = read_xlsx(data)
    assert sheet.title == "Payments"
    rows = list(sheet.iter_rows())
    body, total = rows[1:-1], rows[-1]
    assert all(r[0].is_date and r[1].is_date for r in body)  # real dates, not text
    assert [
        (
            r[0].value.date(),
            r[1].value.date(),
            r[2].value,
            r[3].value,
            r[4].value,
            r[5].value,
            r[6].value,
            round(r[7].value * 100),
        )
        for r in body
    ] == [(*r[:3], safe_text(r[3]), safe_text(r[4]), *r[5:]) for r in expected]
    assert {r[4].data_type for r in body} == {"s"}  # the formula-like name is text
    assert all(r[7].number_format == '"$"#,##0.00' and r[7].data_type == "n" for r in body)
    assert total[0].value == "Total" and total[0].font.bold
    assert round(total[7].value * 100) == sum(r[7] for r in expected)


@pytest.mark.parametrize("basis", ["paid", "completed"])
def test_the_payments_total_is_the_payments_reports(
    ctx: AppContext, world: World, basis: reports.Basis
) -> None:
    narrow = DetailSpec(
        "payments", world.end - timedelta(days=90), world.end - timedelta(days=2), basis
    )
    with session_scope(ctx.readers) as session:
        report = reports.payments_received(
            session,
            actor=FINANCE,
            start=narrow.start or world.start,
            end=narrow.end or world.end,
            group_by="month",
            basis=basis,
        )
        counted = export_sources.count_rows(session, actor=FINANCE, spec=narrow)
    table = read_csv(export_sources.build(ctx.readers, actor=FINANCE, spec=narrow, fmt="csv"))
    assert len(table) - 2 == counted == report.total.payments > 0
    assert cents(table[-1][7]) == report.total.amount
    assert len(table) - 2 == len(payments_in_db(ctx, narrow))


def test_the_aging_export_is_the_receivables_agings_detail(ctx: AppContext, world: World) -> None:
    spec = DetailSpec("aging")
    with session_scope(ctx.readers) as session:
        buckets, details = aging.receivables_aging(session, actor=FINANCE, now=world.now)
        streamed = list(
            export_sources.stream_rows(session, actor=FINANCE, spec=spec, now=world.now)
        )
        assert export_sources.count_rows(session, actor=FINANCE, spec=spec) == len(details)
    assert streamed == [
        (
            d.job_id,
            d.customer,
            d.provider,
            d.amount,
            d.due_date,
            d.days_past_due,
            d.bucket,
            "yes" if d.invoiced else "no",
        )
        for d in details
    ]
    assert all(b.payments for b in buckets)  # every bucket has a job in it

    data = export_sources.build(ctx.readers, actor=FINANCE, spec=spec, fmt="xlsx")
    sheet = read_xlsx(data)
    rows = list(sheet.iter_rows())[1:]
    assert [r[0].value for r in rows] == [d.job_id for d in details] + ["Total"]
    due = {r[0].value: r[4] for r in rows[:-1]}
    for d in details:
        if d.due_date is None:
            assert due[d.job_id].value is None
        else:
            assert due[d.job_id].is_date
            assert due[d.job_id].value.date() == d.due_date.astimezone(UTC).date()
    assert round(rows[-1][3].value * 100) == sum(d.amount for d in details)


def test_exports_are_for_finance_and_admins(ctx: AppContext, world: World) -> None:
    spec = DetailSpec("payments", world.start, world.end)
    with pytest.raises(Forbidden):
        export_sources.build(ctx.readers, actor=Actor("provider", 1), spec=spec, fmt="csv")
    assert export_sources.build(ctx.readers, actor=Actor("admin", 1), spec=spec, fmt="csv")


def test_a_spec_must_make_sense() -> None:
    with pytest.raises(InvalidInput):
        DetailSpec("payments")
    with pytest.raises(InvalidInput):
        DetailSpec("payments", date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        DetailSpec("refunds")  # type: ignore[arg-type]


def test_file_names_say_what_the_file_holds() -> None:
    """Report, grouping, date basis and range: two exports of other parameters never share
    a name."""
    january = (date(2026, 1, 1), date(2026, 1, 31))
    assert DetailSpec("payments", *january).file_name("csv") == (
        "every-payment-paid-2026-01-01-to-2026-01-31.csv"
    )
    assert DetailSpec("payments", *january, "completed").file_name("xlsx") == (
        "every-payment-completed-2026-01-01-to-2026-01-31.xlsx"
    )
    assert DetailSpec("aging").file_name("csv", on=date(2026, 2, 3)) == (
        "receivables-aging-2026-02-03.csv"
    )
    assert ReportSpec(date(2026, 1, 1), date(2026, 12, 1), "month").file_name("xlsx") == (
        "payments-by-month-paid-2026-01-01-to-2026-12-01.xlsx"
    )
    assert ReportSpec(*january, "week", "completed").file_name("csv") == (
        "payments-by-week-completed-2026-01-01-to-2026-01-31.csv"
    )


def parameters_sheet(data: bytes) -> dict[Any, Any]:
    """The workbook's parameters sheet as {name: cell}, with its header checked."""
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[1] == "Parameters"
    rows = list(book["Parameters"].iter_rows())
    assert [c.value for c in rows[0]] == ["Parameter", "Value"]
    return {name.value: value for name, value in rows[1:]}


@pytest.mark.parametrize("basis", ["paid", "completed"])
def test_a_payments_workbook_says_what_it_holds_and_its_totals(
    ctx: AppContext, world: World, basis: reports.Basis
) -> None:
    spec = DetailSpec("payments", world.start, world.end, basis)
    expected = payments_in_db(ctx, spec)
    data = export_sources.build(
        ctx.readers,
        actor=FINANCE,
        spec=spec,
        fmt="xlsx",
        provenance=Provenance("=Fran Finance", "usd"),
        now=world.now,
    )
    cells = parameters_sheet(data)
    assert {name: cell.value for name, cell in cells.items()} == {
        "Report": "Every payment received",
        "Grouping": "one row per payment",
        "Date basis": f"{basis} date",
        "From": datetime.combine(world.start, time()),
        "To": datetime.combine(world.end, time()),
        "Generated at (UTC)": world.now.astimezone(UTC).replace(tzinfo=None, microsecond=0),
        "Generated by": "'=Fran Finance (finance)",  # a name is text, never a formula
        "Currency": "USD",
        **dict(export_sources.PAYMENT_NOTES),
        "Rows": len(expected),
        "Total amount": pytest.approx(sum(r[7] for r in expected) / 100),
        "Total refunded to date": 0,
        "Total disputes lost to date": 0,
        "Total net to date": pytest.approx(sum(r[7] for r in expected) / 100),
        "Total held in open disputes": 0,
    }
    assert cells["From"].is_date and cells["To"].is_date and cells["Generated at (UTC)"].is_date
    assert cells["Total amount"].number_format == '"$"#,##0.00'
    assert cells["Generated by"].data_type == "s"


def test_an_aging_workbook_says_what_it_holds_and_its_totals(ctx: AppContext, world: World) -> None:
    with session_scope(ctx.readers) as session:
        _, details = aging.receivables_aging(session, actor=FINANCE, now=world.now)
    data = export_sources.build(
        ctx.readers, actor=Actor("admin", 1), spec=DetailSpec("aging"), fmt="xlsx", now=world.now
    )
    cells = {name: cell.value for name, cell in parameters_sheet(data).items()}
    assert cells["Report"] == "Receivables aging"
    assert cells["Generated by"] == "admin"  # no name given: the role
    assert "From" not in cells and "Date basis" not in cells
    assert cells["Rows"] == len(details)
    assert round(cells["Total amount"] * 100) == sum(d.amount for d in details)
