"""Finance's Reports page: payments received with a totals row equal to the database,
grouping and date basis, receivables aging, and the CSV/XLSX downloads read back: made
only when clicked (a rerun builds no file), and, for an export too big for a page
request, prepared in the background with its progress shown, then downloaded."""

from __future__ import annotations

import io
import threading
import time as clock
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Progress

from core.billing.invoicing import send_invoice
from core.context import AppContext
from core.db.models import Customer, Job, Payment, ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM, Actor
from core.money import format_cents
from core.reporting import aging as aging_report
from core.reporting import export_jobs, export_sources, exports, reports
from core.reporting.export_jobs import ExportStatus
from core.reporting.export_sources import DetailSpec
from core.reporting.exports import Column, to_csv, to_xlsx
from core.reporting.periods import period_labels
from tests.integration.dashboard.conftest import (
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Demo,
    Download,
    DownloadReader,
    add_job,
    errors,
    metrics,
    open_page,
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


def reports_page() -> AppTest:
    """Finance signed in, on the Reports page."""
    return open_page(signed_in(FINANCE_EMAIL, FINANCE_PASSWORD), "reports.py")


def received_frame(at: AppTest) -> pd.DataFrame:
    return at.tabs[0].dataframe[0].value


REPORT_COLUMNS = ["Payments", "Gross", "Refunded", "Disputes lost", "Net", "Held"]


def report_rows(report: reports.Report) -> list[tuple[Any, ...]]:
    return [
        (r.label, r.payments, r.gross, r.refunded, r.disputed, r.net, r.held) for r in report.rows
    ]


def shown_rows(frame: pd.DataFrame, money: Sequence[str] = REPORT_COLUMNS[1:]) -> list[Any]:
    """A table's rows, its amounts (dollars, numeric) back in cents."""
    for name in money:  # numeric, so they sort as numbers
        assert pd.api.types.is_float_dtype(frame[name])
    return [
        (str(label), int(count), *(round(v * 100) for v in amounts))
        for label, count, *amounts in frame.itertuples(index=False)
    ]


def received_totals(at: AppTest) -> tuple[int, str]:
    """The report's totals, shown above its table (outside the sortable grid)."""
    shown = {m.label: m.value for m in at.tabs[0].metric}
    return int(shown["Payments received"].replace(",", "")), shown["Gross received"]


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


def aging(ctx: AppContext) -> tuple[list[reports.ReportRow], list[aging_report.AgingRow]]:
    with session_scope(ctx.sessions) as session:
        return aging_report.receivables_aging(session, actor=FINANCE)


def cents(value: Any) -> int:
    """A money cell read back from CSV or XLSX, in cents."""
    return int((Decimal(str(value)) * 100).to_integral_value())


# ---------------------------------------------------------------------------------------
# Downloads as a click makes them


class _RecordingFiles(MediaFileManager):
    """AppTest's media file manager (one per run), kept reachable so that a test can make a
    deferred download's file the way a click does (`execute_deferred`)."""

    instances: list[_RecordingFiles] = []

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self.storage = storage
        _RecordingFiles.instances.append(self)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[DownloadReader]:
    """`read(at, key)`: the file the download button with that key hands over when clicked.
    A button given a callable has no file until then: its callable runs now, through the
    run's media file manager, as Streamlit runs it on a click."""
    import streamlit.testing.v1.app_test as app_test

    _RecordingFiles.instances = []
    monkeypatch.setattr(app_test, "MediaFileManager", _RecordingFiles)

    def read(at: AppTest, key: str) -> Download:
        button = at.download_button(key=key)
        deferred = str(button.proto.deferred_file_id)
        for manager in reversed(_RecordingFiles.instances):
            try:
                url = manager.execute_deferred(deferred) if deferred else str(button.proto.url)
                file = manager.storage.get_file(url.rsplit("/", 1)[-1])
            except MediaFileStorageError:  # registered in another run's manager
                continue
            return Download(file.content, file.filename, file.mimetype)
        raise AssertionError(f"no file behind download button {key}")

    yield read
    _RecordingFiles.instances = []


# ---------------------------------------------------------------------------------------
# Payments received


def test_payments_by_month_with_a_total_equal_to_the_database(
    demo: Demo, dashboard: AppContext
) -> None:
    at = reports_page()
    assert titles(at) == ["Reports"]
    assert [t.label for t in at.tabs] == ["Payments received", "Receivables aging"]
    start, end = default_range()
    assert at.date_input(key="report_dates").value == (start, end)
    assert at.selectbox(key="report_grouping").value == "month"
    assert at.radio(key="report_basis").value == "paid"

    frame = received_frame(at)
    assert list(frame.columns) == ["Month", *REPORT_COLUMNS]
    expected = payments_report(dashboard, start, end, "month", "paid")
    assert shown_rows(frame) == report_rows(expected)
    count, amount = received_in_db(dashboard, start, end)
    assert count > 0
    assert "Total" not in list(frame["Month"])  # the totals are outside the sortable grid
    assert received_totals(at) == (count, format_cents(amount))
    assert sum(r[2] for r in shown_rows(frame)) == amount
    # Every month of the range, in order, the ones without payments at zero.
    assert [r[0] for r in shown_rows(frame)] == period_labels(start, end, "month")


def test_grouping_basis_and_dates_change_the_rows(demo: Demo, dashboard: AppContext) -> None:
    at = reports_page()
    start, end = default_range()
    by_month_totals = received_totals(at)

    at.selectbox(key="report_grouping").set_value("provider").run()
    assert not at.exception
    frame = received_frame(at)
    assert list(frame.columns) == ["Provider", *REPORT_COLUMNS]
    expected = payments_report(dashboard, start, end, "provider", "paid")
    assert shown_rows(frame) == report_rows(expected)
    with session_scope(dashboard.sessions) as session:
        names = set(session.scalars(select(ServiceProvider.name)))
    assert {r[0] for r in shown_rows(frame)} == names
    assert received_totals(at) == by_month_totals  # same payments, grouped otherwise

    at.selectbox(key="report_grouping").set_value("week").run()
    paid_weeks = shown_rows(received_frame(at))
    assert paid_weeks == report_rows(payments_report(dashboard, start, end, "week", "paid"))
    assert [r[0] for r in paid_weeks] == period_labels(start, end, "week")
    assert any(r[1] == 0 for r in paid_weeks)  # the demo has weeks without payments
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
    assert received_totals(at) == (count, format_cents(amount))
    assert count < by_month_totals[0]


def test_a_range_with_no_end_yet_leaves_the_aging_tab_alone(
    demo: Demo, dashboard: AppContext
) -> None:
    at = reports_page()
    aging_before = at.tabs[1].dataframe[0].value
    at.date_input(key="report_dates").set_value((date.today() - timedelta(days=30),)).run()
    assert not at.exception
    received, aging_tab = at.tabs
    assert [i.value for i in received.info] == [
        "Pick the end date too: the report covers the start date to the end date."
    ]
    assert not received.dataframe and not received.metric
    # The aging tab is drawn all the same, with its table, totals and downloads.
    assert aging_tab.dataframe[0].value.equals(aging_before)
    assert {m.label for m in aging_tab.metric} == {"Owed by customers", "Unpaid jobs"}
    assert [b.key for b in aging_tab.download_button] == ["aging_csv", "aging_xlsx"]

    at.date_input(key="report_dates").set_value(default_range()).run()
    assert not at.tabs[0].info and at.tabs[0].dataframe


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
    assert by_bucket[aging_report.NOT_YET_DUE] == 2
    assert by_bucket[aging_report.NOT_INVOICED] == len(details) - 2
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

    at = reports_page()
    tab = at.tabs[1]
    assert {m.label: m.value for m in tab.metric} == {
        "Owed by customers": format_cents(owed),
        "Unpaid jobs": f"{jobs:,}",
    }
    summary = tab.dataframe[0].value
    assert list(summary.columns) == ["Bucket", "Jobs", "Amount"]
    assert shown_rows(summary, ["Amount"]) == [(b.label, b.payments, b.amount) for b in buckets]
    assert [r[0] for r in shown_rows(summary, ["Amount"])] == list(aging_report.AGING_BUCKETS)
    assert sum(1 for b in buckets if b.payments) >= 2  # more than one bucket is in use
    unpaid = tab.expander[0]
    assert unpaid.label == f"The {jobs} unpaid jobs"
    listed = unpaid.dataframe[0].value
    assert list(listed["Job #"]) == [d.job_id for d in details]
    assert [round(v * 100) for v in listed["Amount"]] == [d.amount for d in details]
    assert pd.api.types.is_float_dtype(listed["Amount"])
    assert metrics(at)["Owed by customers"] == format_cents(owed)


# ---------------------------------------------------------------------------------------
# Downloads


def read_csv(data: bytes) -> pd.DataFrame:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)


def read_xlsx(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data)).active


def parameters(data: bytes) -> dict[Any, Any]:
    """A workbook's parameters sheet (its second) as {name: value}."""
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[1] == "Parameters"
    rows: Any = book["Parameters"].iter_rows(min_row=2, values_only=True)
    return dict(rows)


def test_downloads_read_back_equal_the_database(
    demo: Demo, dashboard: AppContext, downloads: DownloadReader
) -> None:
    at = reports_page()
    start, end = default_range()
    report = payments_report(dashboard, start, end, "month", "paid")
    count, amount = received_in_db(dashboard, start, end)

    csv_file = downloads(at, "received_csv")
    assert csv_file.filename == f"payments-by-month-paid-{start}-to-{end}.csv"
    assert csv_file.mimetype.startswith("text/csv")
    table = read_csv(csv_file.data)
    assert list(table.columns) == ["Month", *REPORT_COLUMNS]
    assert [(r[0], int(r[1]), *map(cents, r[2:])) for r in table.itertuples(index=False)] == [
        *report_rows(report),
        ("Total", count, amount, 0, 0, amount, 0),  # the demo has no refund or dispute
    ]
    assert all(len(v.split(".")[1]) == 2 for v in table["Gross"])  # always cents

    xlsx_file = downloads(at, "received_xlsx")
    assert xlsx_file.filename == f"payments-by-month-paid-{start}-to-{end}.xlsx"
    sheet = read_xlsx(xlsx_file.data)
    assert sheet.title == "Payments received"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Month", *REPORT_COLUMNS)
    assert [(r[0], r[1], *map(cents, r[2:])) for r in rows[1:-1]] == [
        (datetime.fromisoformat(label), *rest) for label, *rest in report_rows(report)
    ]  # the months as real dates
    assert (rows[-1][0], rows[-1][1], *map(cents, rows[-1][2:])) == (
        "Total",
        count,
        amount,
        0,
        0,
        amount,
        0,
    )
    assert all(
        cell.is_date for (cell,) in sheet.iter_rows(min_row=2, max_row=len(rows) - 1, max_col=1)
    )
    assert all(cell.font.bold for cell in sheet[1])
    assert all(cell.font.bold for cell in sheet[sheet.max_row])  # the totals row
    for row in sheet.iter_rows(min_row=2, min_col=3, max_col=7):
        assert all(cell.number_format == MONEY_FORMAT and cell.data_type == "n" for cell in row)
    assert sheet.cell(row=2, column=2).data_type == "n"
    # The second sheet says what the workbook holds, for whom and when, and its totals.
    about = parameters(xlsx_file.data)
    generated = about.pop("Generated at (UTC)")
    assert abs(generated - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)
    assert about == {
        "Report": "Payments received",
        "Grouping": "month",
        "Date basis": "paid date",
        "From": datetime.combine(start, time()),
        "To": datetime.combine(end, time()),
        "Generated by": "Fran Finance (finance)",
        "Currency": "USD",
        **dict(reports.money_back_notes("paid")),
        "Rows": len(report.rows),
        "Total payments": count,
        "Total gross": pytest.approx(amount / 100),
        "Total refunded": 0,
        "Total disputes lost": 0,
        "Total net": pytest.approx(amount / 100),
        "Total held": 0,
    }

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

    # Every payment in the report's range: one row each, and the report's total.
    payments_csv = downloads(at, "payments_csv")
    assert payments_csv.filename == f"every-payment-paid-{start}-to-{end}.csv"
    every = read_csv(payments_csv.data)
    assert list(every.columns) == [c.title for c in export_sources.PAYMENT_COLUMNS]
    assert len(every) - 1 == count
    assert sum(cents(v) for v in every["Amount"][:-1]) == cents(every["Amount"].iloc[-1]) == amount
    assert all(start <= date.fromisoformat(v) <= end for v in every["Paid on"][:-1])
    payments_xlsx = downloads(at, "payments_xlsx").data
    payments_sheet = read_xlsx(payments_xlsx)
    assert payments_sheet.max_row == 1 + count + 1
    assert all(
        cell.is_date
        for (cell,) in payments_sheet.iter_rows(min_row=2, max_row=count + 1, max_col=1)
    )
    about = parameters(payments_xlsx)
    assert (about["Report"], about["Rows"], about["Generated by"]) == (
        "Every payment received",
        count,
        "Fran Finance (finance)",
    )

    # On the completed date, the files are named so: never the paid date's names.
    at.radio(key="report_basis").set_value("completed").run()
    assert downloads(at, "received_xlsx").filename == (
        f"payments-by-month-completed-{start}-to-{end}.xlsx"
    )
    assert downloads(at, "payments_csv").filename == (
        f"every-payment-completed-{start}-to-{end}.csv"
    )
    assert downloads(at, "aging_csv").filename == f"receivables-aging-{utcnow().date()}.csv"


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
    at = reports_page()
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


# ---------------------------------------------------------------------------------------
# Files made only when asked for

DOWNLOAD_KEYS = [
    "received_csv",
    "received_xlsx",
    "payments_csv",
    "payments_xlsx",
    "money_back_csv",
    "money_back_xlsx",
    "aging_csv",
    "aging_xlsx",
]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many CSV and XLSX files were written: every export goes through these two."""
    calls: Counter[str] = Counter()
    for name in ("write_csv", "write_xlsx"):
        original: Callable[..., int] = getattr(exports, name)

        def counting(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> int:
            calls[_name] += 1
            return int(_original(*args, **kw))

        monkeypatch.setattr(exports, name, counting)
    return calls


def test_the_page_builds_no_file_until_one_is_clicked(
    demo: Demo, dashboard: AppContext, downloads: DownloadReader, builds: Counter[str]
) -> None:
    at = reports_page()
    for _ in range(3):  # the first run and plain reruns
        assert not at.exception
        assert builds == Counter()
        assert all(at.download_button(key=key).proto.deferred_file_id for key in DOWNLOAD_KEYS)
        at.run()
    at.selectbox(key="report_grouping").set_value("provider").run()
    at.radio(key="report_basis").set_value("completed").run()
    assert builds == Counter()

    # A click makes that one file, and only it.
    downloads(at, "payments_xlsx")
    assert builds == Counter({"write_xlsx": 1})
    downloads(at, "received_csv")
    assert builds == Counter({"write_xlsx": 1, "write_csv": 1})
    at.run()
    assert builds == Counter({"write_xlsx": 1, "write_csv": 1})


@pytest.fixture
def background(
    dashboard: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Exports of more than 10 rows go to the background, into this test's directory, and
    report progress on every batch of 10 rows."""
    directory = tmp_path / "exports"
    monkeypatch.setenv("EXPORT_DIR", str(directory))
    monkeypatch.setattr(export_jobs, "BACKGROUND_ROWS", 10)
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(exports, "BATCH_ROWS", 10)
    yield directory


class Gate:
    """Holds the export's rows after the first `open_rows` until `release`, then goes on
    (or fails, with `fail`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, open_rows: int, fail: bool = False):
        self.released = threading.Event()
        stream = export_sources.stream_rows

        def gated(*args: Any, **kwargs: Any) -> Iterator[Sequence[Any]]:
            for number, row in enumerate(stream(*args, **kwargs)):
                if number == open_rows:
                    assert self.released.wait(timeout=60)
                    if fail:
                        raise RuntimeError("the database went away")
                yield row

        monkeypatch.setattr(export_sources, "stream_rows", gated)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Gate]]:
    """`gate(open_rows, fail=False)`; released at the end of the test whatever happens, so
    no export thread outlives it."""
    made: list[Gate] = []

    def make(open_rows: int, fail: bool = False) -> Gate:
        made.append(Gate(monkeypatch, open_rows, fail))
        return made[-1]

    yield make
    for each in made:
        each.release()


def wait_for(
    directory: Path, job_id: str, actor: Actor, done: Callable[[ExportStatus], bool]
) -> ExportStatus:
    """The export's status once `done` says so (polling its status file, up to a minute)."""
    deadline = clock.monotonic() + 60
    while True:
        status = export_jobs.status(directory, job_id, actor=actor)
        if done(status):
            return status
        assert clock.monotonic() < deadline, status
        clock.sleep(0.02)


def test_a_big_export_is_prepared_in_the_background_then_downloaded(
    demo: Demo,
    dashboard: AppContext,
    background: Path,
    downloads: DownloadReader,
    gate: Callable[..., Gate],
) -> None:
    start, end = default_range()
    count, amount = received_in_db(dashboard, start, end)
    finance = Actor("finance", demo.account_ids[FINANCE_EMAIL])
    held = gate(25)
    at = reports_page()
    tab = at.tabs[0]
    assert not [b for b in tab.download_button if b.key in ("payments_csv", "payments_xlsx")]
    assert f"{count:,} rows: prepared as a file in the background, then downloaded." in [
        c.value for c in tab.caption
    ]

    at.button(key="payments_prepare_csv").click().run()
    assert not at.exception
    job_id = at.session_state["payments_export_job"]
    running = wait_for(background, job_id, finance, lambda s: s.rows_done == 20)
    assert (running.state, running.rows_total) == ("running", count)
    at.run()  # as the fragment does every second
    (bar,) = at.tabs[0].get("progress")
    assert isinstance(bar, Progress)
    spec = DetailSpec("payments", start, end)
    assert bar.text == f"Preparing {spec.file_name('csv')}: 20 of {count:,} rows"
    assert bar.value == int(100 * 20 / count)
    assert not [b for b in at.button if b.key == "payments_prepare_csv"]  # one at a time

    held.release()
    wait_for(background, job_id, finance, lambda s: not s.active)
    at.run()
    assert not at.tabs[0].get("progress")
    assert f"{count:,} rows, ready." in [c.value for c in at.tabs[0].caption]
    file = downloads(at, "payments_file")
    assert (file.filename, file.mimetype) == (spec.file_name("csv"), "text/csv")
    assert file.data == export_sources.build(dashboard.readers, actor=finance, spec=spec, fmt="csv")
    table = read_csv(file.data)
    assert len(table) - 1 == count and cents(table["Amount"].iloc[-1]) == amount
    assert at.button(key="payments_prepare_xlsx")  # another can be prepared now


def test_a_failed_background_export_says_so(
    demo: Demo, dashboard: AppContext, background: Path, gate: Callable[..., Gate]
) -> None:
    held = gate(15, fail=True)
    at = reports_page()
    at.button(key="payments_prepare_xlsx").click().run()
    job_id = at.session_state["payments_export_job"]
    held.release()
    finance = Actor("finance", demo.account_ids[FINANCE_EMAIL])
    failed = wait_for(background, job_id, finance, lambda s: not s.active)
    assert (failed.state, failed.error) == ("failed", "the database went away")
    at.run()
    assert "The export failed: the database went away" in errors(at)
    assert not [b for b in at.download_button if b.key == "payments_file"]
    assert at.button(key="payments_prepare_xlsx")  # it can be tried again
    assert sorted(p.suffix for p in background.iterdir()) == [".json"]  # no partial file
