"""Finance's Reports page: payments received with a totals row equal to the database,
grouping and date basis, receivables aging, and the CSV/XLSX downloads read back."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from core.billing.invoicing import send_invoice
from core.context import AppContext
from core.db.models import Customer, Job, Payment, ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM, Actor
from core.money import format_cents
from core.reporting import reports
from core.reporting.exports import Column, to_csv, to_xlsx
from tests.integration.dashboard.conftest import (
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Demo,
    DownloadReader,
    add_job,
    metrics,
    signed_in,
    small_marketplace,
    titles,
)

FINANCE = Actor("finance", 1)
DANGEROUS_NAMES = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)"]
MONEY_FORMAT = '"$"#,##0.00'


def default_range() -> tuple[date, date]:
    """The page's default: from a year before the first of this month, to today."""
    today = date.today()
    return today.replace(day=1) - timedelta(days=365), today


def received_frame(at: AppTest) -> pd.DataFrame:
    return at.tabs[0].dataframe[0].value


def report_rows(report: reports.Report) -> list[tuple[str, int, str]]:
    return [(r.label, r.payments, format_cents(r.amount)) for r in [*report.rows, report.total]]


def shown_rows(frame: pd.DataFrame) -> list[tuple[str, int, str]]:
    return [(str(a), int(b), str(c)) for a, b, c in frame.itertuples(index=False)]


def received_in_db(ctx: AppContext, start: date, end: date) -> tuple[int, int]:
    """Received payments marked between two dates (inclusive, UTC), summed independently."""
    with session_scope(ctx.sessions) as session:
        count, amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.status == "received",
                Payment.marked_at >= datetime.combine(start, time(), UTC),
                Payment.marked_at < datetime.combine(end + timedelta(days=1), time(), UTC),
            )
        ).one()
    return int(count), int(amount)


def payments_report(
    ctx: AppContext, start: date, end: date, group_by: reports.Grouping, basis: reports.Basis
) -> reports.Report:
    with session_scope(ctx.sessions) as session:
        return reports.payments_received(
            session, actor=FINANCE, start=start, end=end, group_by=group_by, basis=basis
        )


def aging(ctx: AppContext) -> tuple[list[reports.ReportRow], list[reports.AgingRow]]:
    with session_scope(ctx.sessions) as session:
        return reports.receivables_aging(session, actor=FINANCE)


def cents(value: Any) -> int:
    """A money cell read back from CSV or XLSX, in cents."""
    return int((Decimal(str(value)) * 100).to_integral_value())


# ---------------------------------------------------------------------------------------
# Payments received


def test_payments_by_month_with_a_total_equal_to_the_database(
    demo: Demo, dashboard: AppContext
) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert titles(at) == ["Reports"]
    assert [t.label for t in at.tabs] == ["Payments received", "Receivables aging"]
    start, end = default_range()
    assert at.date_input(key="report_dates").value == (start, end)
    assert at.selectbox(key="report_grouping").value == "month"
    assert at.radio(key="report_basis").value == "paid"

    frame = received_frame(at)
    assert list(frame.columns) == ["Month", "Payments", "Amount"]
    expected = payments_report(dashboard, start, end, "month", "paid")
    assert shown_rows(frame) == report_rows(expected)
    count, amount = received_in_db(dashboard, start, end)
    assert count > 0
    assert shown_rows(frame)[-1] == ("Total", count, format_cents(amount))
    # The months are the months of the payments, in order.
    assert [r[0] for r in shown_rows(frame)[:-1]] == sorted(r[0] for r in shown_rows(frame)[:-1])


def test_grouping_basis_and_dates_change_the_rows(demo: Demo, dashboard: AppContext) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    start, end = default_range()
    by_month = shown_rows(received_frame(at))

    at.selectbox(key="report_grouping").set_value("provider").run()
    assert not at.exception
    frame = received_frame(at)
    assert list(frame.columns) == ["Provider", "Payments", "Amount"]
    expected = payments_report(dashboard, start, end, "provider", "paid")
    assert shown_rows(frame) == report_rows(expected)
    with session_scope(dashboard.sessions) as session:
        names = set(session.scalars(select(ServiceProvider.name)))
    assert {r[0] for r in shown_rows(frame)[:-1]} == names
    assert shown_rows(frame)[-1] == by_month[-1]  # same payments, grouped otherwise

    at.selectbox(key="report_grouping").set_value("week").run()
    paid_weeks = shown_rows(received_frame(at))
    assert paid_weeks == report_rows(payments_report(dashboard, start, end, "week", "paid"))
    at.radio(key="report_basis").set_value("completed").run()
    assert not at.exception
    completed_weeks = shown_rows(received_frame(at))
    assert completed_weeks == report_rows(
        payments_report(dashboard, start, end, "week", "completed")
    )
    assert completed_weeks != paid_weeks  # jobs are paid days after they are completed
    assert "(completed date)" in at.tabs[0].caption[0].value

    # A narrower range: the total is what was received in it.
    at.radio(key="report_basis").set_value("paid").run()
    narrow = (end - timedelta(days=60), end - timedelta(days=10))
    at.date_input(key="report_dates").set_value(narrow).run()
    count, amount = received_in_db(dashboard, *narrow)
    assert shown_rows(received_frame(at))[-1] == ("Total", count, format_cents(amount))
    assert count < by_month[-1][1]


# ---------------------------------------------------------------------------------------
# Receivables aging


def test_aging_tab_shows_the_buckets(demo: Demo, dashboard: AppContext) -> None:
    # Two of the demo's unbilled jobs get their invoice now: not yet due, the rest unbilled.
    with session_scope(dashboard.sessions) as session:
        unbilled = session.scalars(
            select(Job.id).where(Job.status == "completed").order_by(Job.id).limit(2)
        ).all()
    for job_id in unbilled:
        send_invoice(dashboard, job_id=job_id, actor=SYSTEM)
    buckets, details = aging(dashboard)
    by_bucket = {b.label: b.payments for b in buckets}
    assert by_bucket["not yet due"] == 2
    assert by_bucket[reports.NOT_INVOICED] == len(details) - 2
    assert {d.job_id for d in details if d.invoiced} == set(unbilled)
    with session_scope(dashboard.sessions) as session:
        owed, jobs = session.execute(
            select(func.coalesce(func.sum(Payment.amount), 0), func.count())
            .select_from(Job)
            .join(Payment, Payment.job_id == Job.id)
            .where(Job.status == "completed", Payment.status == "pending")
        ).one()
    owed, jobs = int(owed), int(jobs)  # PostgreSQL sums bigints as numeric
    assert jobs > 0

    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    tab = at.tabs[1]
    assert {m.label: m.value for m in tab.metric} == {"Owed by customers": format_cents(owed)}
    summary = tab.dataframe[0].value
    assert list(summary.columns) == ["Days past due", "Jobs", "Amount"]
    assert shown_rows(summary) == [
        *((b.label, b.payments, format_cents(b.amount)) for b in buckets),
        ("Total", jobs, format_cents(owed)),
    ]
    assert [r[0] for r in shown_rows(summary)] == [*reports.AGING_BUCKETS, "Total"]
    assert sum(1 for b in buckets if b.payments) >= 2  # more than one bucket is in use
    unpaid = tab.expander[0]
    assert unpaid.label == f"The {jobs} unpaid jobs"
    assert list(unpaid.dataframe[0].value["Job #"]) == [d.job_id for d in details]
    assert metrics(at)["Owed by customers"] == format_cents(owed)


# ---------------------------------------------------------------------------------------
# Downloads


def read_csv(data: bytes) -> pd.DataFrame:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)


def read_xlsx(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data)).active


def test_downloads_read_back_equal_the_database(
    demo: Demo, dashboard: AppContext, downloads: DownloadReader
) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    start, end = default_range()
    report = payments_report(dashboard, start, end, "month", "paid")
    count, amount = received_in_db(dashboard, start, end)

    csv_file = downloads(at, "received_csv")
    assert csv_file.filename == f"payments-by-month-{start}-{end}.csv"
    assert csv_file.mimetype.startswith("text/csv")
    table = read_csv(csv_file.data)
    assert list(table.columns) == ["Month", "Payments", "Amount"]
    assert [(r.Month, int(r.Payments), cents(r.Amount)) for r in table.itertuples()] == [
        *((r.label, r.payments, r.amount) for r in report.rows),
        ("Total", count, amount),
    ]
    assert all(len(v.split(".")[1]) == 2 for v in table["Amount"])  # always cents

    xlsx_file = downloads(at, "received_xlsx")
    assert xlsx_file.filename == f"payments-by-month-{start}-{end}.xlsx"
    sheet = read_xlsx(xlsx_file.data)
    assert sheet.title == "Payments received"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Month", "Payments", "Amount")
    assert [(r[0], r[1], cents(r[2])) for r in rows[1:]] == [
        *((r.label, r.payments, r.amount) for r in report.rows),
        ("Total", count, amount),
    ]
    assert all(cell.font.bold for cell in sheet[1])
    assert all(cell.font.bold for cell in sheet[sheet.max_row])  # the totals row
    for (cell,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
        assert cell.number_format == MONEY_FORMAT
        assert cell.data_type == "n"
    assert sheet.cell(row=2, column=2).data_type == "n"

    # Receivables aging: every unpaid job, and its total.
    _, details = aging(dashboard)
    owed = sum(d.amount for d in details)
    aging_csv = read_csv(downloads(at, "aging_csv").data)
    assert [(int(r["Job #"]), cents(r["Amount"])) for _, r in aging_csv.iloc[:-1].iterrows()] == [
        (d.job_id, d.amount) for d in details
    ]
    assert (aging_csv.iloc[-1]["Job #"], cents(aging_csv.iloc[-1]["Amount"])) == ("Total", owed)
    aging_sheet = read_xlsx(downloads(at, "aging_xlsx").data)
    aging_rows = list(aging_sheet.iter_rows(values_only=True))
    assert aging_rows[0][:4] == ("Job #", "Customer", "Provider", "Amount")
    assert [(r[0], cents(r[3])) for r in aging_rows[1:]] == [
        *((d.job_id, d.amount) for d in details),
        ("Total", owed),
    ]
    for (cell,) in aging_sheet.iter_rows(min_row=2, min_col=4, max_col=4):
        assert cell.number_format == MONEY_FORMAT


def _formula_data(ctx: AppContext) -> dict[str, int]:
    """A completed job (so it is in the aging) for each dangerous customer name, and a paid
    one by a provider whose name is dangerous too."""
    small = small_marketplace(ctx)
    jobs = {}
    with session_scope(ctx.sessions) as session:
        create_account(
            session,
            username=FINANCE_EMAIL,
            display_name="Fran Finance",
            role="finance",
            password=FINANCE_PASSWORD,
        )
        for index, name in enumerate(DANGEROUS_NAMES):
            customer = Customer(name=name, email=f"c{index}@example.com")
            session.add(customer)
            session.flush()
            job_id = add_job(
                session,
                customer_id=customer.id,
                provider_id=small.provider_id,
                service_id=small.service_id,
                price=10000 + index,
            )
            jobs[name] = job_id
        now = utcnow()
        session.execute(
            update(Job)
            .where(Job.id.in_(jobs.values()))
            .values(status="completed", completed_at=now)
        )
        for job_id in jobs.values():
            session.execute(
                update(Payment)
                .where(Payment.job_id == job_id)
                .values(amount=select(Job.price).where(Job.id == job_id).scalar_subquery())
            )
        provider = session.get(ServiceProvider, small.provider_id)
        assert provider is not None
        provider.name = "@SUM(A1:A9)"
        session.execute(
            update(Job)
            .where(Job.id == small.job_id)
            .values(status="paid", completed_at=now, paid_at=now)
        )
        session.execute(
            update(Payment)
            .where(Payment.job_id == small.job_id)
            .values(amount=15000, status="received", method="stripe", marked_at=now)
        )
    return jobs


def test_formula_like_text_stays_text_in_csv_and_xlsx(
    dashboard: AppContext, downloads: DownloadReader
) -> None:
    jobs = _formula_data(dashboard)
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    # On screen the names are shown as they are.
    unpaid = at.tabs[1].expander[0].dataframe[0].value
    assert set(unpaid["Customer"]) == set(DANGEROUS_NAMES)

    aging_csv = read_csv(downloads(at, "aging_csv").data)
    by_job = dict(zip(aging_csv["Job #"], aging_csv["Customer"], strict=True))
    assert {name: by_job[str(job_id)] for name, job_id in jobs.items()} == {
        name: "'" + name for name in DANGEROUS_NAMES
    }
    assert set(aging_csv["Provider"][:-1]) == {"'@SUM(A1:A9)"}

    sheet = read_xlsx(downloads(at, "aging_xlsx").data)
    cells = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2) if row[0].value != "Total"}
    for name, job_id in jobs.items():
        cell = cells[job_id]
        assert cell.data_type == "s", name  # text, not a formula
        assert cell.value == "'" + name
    for (cell,) in sheet.iter_rows(min_row=2, max_row=len(jobs) + 1, min_col=3, max_col=3):
        assert (cell.data_type, cell.value) == ("s", "'@SUM(A1:A9)")

    # The payments report grouped by provider carries the provider's name the same way.
    at.selectbox(key="report_grouping").set_value("provider").run()
    received = read_csv(downloads(at, "received_csv").data)
    assert list(received["Provider"]) == ["'@SUM(A1:A9)", "Total"]
    received_sheet = read_xlsx(downloads(at, "received_xlsx").data)
    label = received_sheet.cell(row=2, column=1)
    assert (label.data_type, label.value) == ("s", "'@SUM(A1:A9)")


@pytest.mark.parametrize("name", DANGEROUS_NAMES)
def test_exports_quote_formula_like_text(name: str) -> None:
    """core.reporting.exports on its own, for every character a spreadsheet reads as a formula."""
    columns = [Column("Customer"), Column("Amount", money=True)]
    rows = [[name, 12345]]
    table = read_csv(to_csv(columns, rows, ["Total", 12345]))
    assert list(table["Customer"]) == ["'" + name, "Total"]
    assert list(table["Amount"]) == ["123.45", "123.45"]
    sheet = read_xlsx(to_xlsx(columns, rows, ["Total", 12345]))
    assert (sheet["A2"].data_type, sheet["A2"].value) == ("s", "'" + name)
    assert sheet["B2"].value == pytest.approx(123.45) and sheet["B2"].number_format == MONEY_FORMAT
    assert sheet["A1"].font.bold and sheet["B1"].font.bold
