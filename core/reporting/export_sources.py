"""What each export holds: its columns, and its rows streamed from the database.

Two detail exports can grow without bound, so their rows are read `STREAM_ROWS` at a time
(`yield_per`: a server-side cursor on PostgreSQL) and written as they arrive, never held
in a list:

- `payments`: every received payment between two dates, on the paid or the completed
  date, as `reports.payments_received` counts them (its total equals that report's);
- `aging`: every unpaid completed job, the receivables aging's detail
  (`core.reporting.aging`'s own query and rows).

The summary report (`payments_received`, a few hundred rows at most) is exported from the
`Report` the page already holds (`summary_table`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, Literal

from sqlalchemy import Date, Select, cast, func, literal_column, select, type_coerce
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from core.db.models import Customer, Job, Payment, Service, ServiceProvider, utcnow
from core.db.session import session_scope
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting import exports
from core.reporting.aging import aging_query, aging_row
from core.reporting.exports import Column, Progress, Sums
from core.reporting.reports import Basis, Grouping, Report

Kind = Literal["payments", "aging"]
Format = Literal["csv", "xlsx"]
KINDS: tuple[Kind, ...] = ("payments", "aging")
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
MIME_TYPES: dict[Format, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STREAM_ROWS = 5_000
AnySelect = Select[*tuple[Any, ...]]

PAYMENT_COLUMNS = (
    Column("Paid on", date=True),
    Column("Completed on", date=True),
    Column("Job #"),
    Column("Provider"),
    Column("Customer"),
    Column("Category"),
    Column("Method"),
    Column("Amount", money=True),
)
AGING_COLUMNS = (
    Column("Job #"),
    Column("Customer"),
    Column("Provider"),
    Column("Amount", money=True),
    Column("Due", date=True),
    Column("Days past due"),
    Column("Bucket"),
    Column("Invoiced"),
)


@dataclass(frozen=True)
class DetailSpec:
    """Which detail export: `payments` between `start` and `end` (inclusive, UTC) on the
    `basis` date, or the `aging` as of now."""

    kind: Kind
    start: date | None = None
    end: date | None = None
    basis: Basis = "paid"

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.basis not in ("paid", "completed"):
            raise InvalidInput("unknown export or date basis")
        if self.kind == "payments":
            if self.start is None or self.end is None:
                raise InvalidInput("the payments export needs a start and an end date")
            if self.end < self.start:
                raise InvalidInput("the end date is before the start date")

    @property
    def columns(self) -> Sequence[Column]:
        return PAYMENT_COLUMNS if self.kind == "payments" else AGING_COLUMNS

    @property
    def title(self) -> str:
        return "Payments" if self.kind == "payments" else "Receivables aging"

    @property
    def file_stem(self) -> str:
        if self.kind == "payments":
            basis = "" if self.basis == "paid" else "-by-completed-date"
            return f"payments-{self.start}-{self.end}{basis}"
        return "receivables-aging"

    def file_name(self, fmt: Format) -> str:
        return f"{self.file_stem}.{fmt}"


def _utc_date(column: Any, dialect: str) -> ColumnElement[date]:
    """The UTC calendar date of a timestamp column, as a date, worked out by the database."""
    if dialect == "sqlite":  # stored as naive UTC text; SQLAlchemy parses the 'YYYY-MM-DD'
        return type_coerce(func.date(column), Date)
    return cast(func.timezone(literal_column("'UTC'"), column), Date)


def _payments_query(spec: DetailSpec, dialect: str) -> AnySelect:
    assert spec.start is not None and spec.end is not None
    when = Payment.marked_at if spec.basis == "paid" else Job.completed_at
    return (
        select(
            _utc_date(Payment.marked_at, dialect),
            _utc_date(Job.completed_at, dialect),
            Job.id,
            ServiceProvider.name,
            Customer.name,
            Service.category,
            Payment.method,
            Payment.amount,
        )
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Customer, Customer.id == Job.customer_id)
        .where(
            Payment.status == "received",
            when >= datetime.combine(spec.start, time(), UTC),
            when < datetime.combine(spec.end + timedelta(days=1), time(), UTC),
        )
        .order_by(when, Job.id)
    )


def count_rows(session: Session, *, actor: Actor, spec: DetailSpec) -> int:
    """How many rows the export has (for progress; the export itself counts what it writes)."""
    require(actor, "reports.read")
    query = (
        _payments_query(spec, session.get_bind().dialect.name)
        if spec.kind == "payments"
        else aging_query(session)
    )
    counted = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(counted or 0)


def stream_rows(
    session: Session, *, actor: Actor, spec: DetailSpec, now: datetime | None = None
) -> Iterator[Sequence[Any]]:
    """The export's rows, in order, read from the database `STREAM_ROWS` at a time."""
    require(actor, "reports.read")
    # Through the session's connection, not the ORM: plain rows, at half the cost a row.
    connection = session.connection()
    options = {"yield_per": STREAM_ROWS}
    if spec.kind == "payments":
        query = _payments_query(spec, session.get_bind().dialect.name)
        yield from connection.execute(query, execution_options=options)
        return
    now = now or utcnow()
    for row in connection.execute(aging_query(session), execution_options=options):
        aged = aging_row(row, now)
        yield (
            aged.job_id,
            aged.customer,
            aged.provider,
            aged.amount,
            aged.due_date,
            aged.days_past_due,
            aged.bucket,
            "yes" if aged.invoiced else "no",
        )


def write(
    session: Session,
    out: IO[bytes],
    *,
    actor: Actor,
    spec: DetailSpec,
    fmt: Format,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> int:
    """Stream the export into `out` as CSV or XLSX, with a totals row summed as it goes;
    returns the number of rows written."""
    rows = stream_rows(session, actor=actor, spec=spec, now=now)
    if fmt == "csv":
        return exports.write_csv(out, spec.columns, rows, Sums(), progress=progress)
    if fmt == "xlsx":
        return exports.write_xlsx(
            out, spec.columns, rows, Sums(), title=spec.title, progress=progress
        )
    raise InvalidInput(f"unknown export format {fmt!r}")


def build(readers: sessionmaker[Session], *, actor: Actor, spec: DetailSpec, fmt: Format) -> bytes:
    """The whole export in memory, for one small enough to hand over in a page request."""
    buffer = io.BytesIO()
    with session_scope(readers) as session:
        write(session, buffer, actor=actor, spec=spec, fmt=fmt)
    return buffer.getvalue()


def summary_table(
    report: Report, group_by: Grouping
) -> tuple[list[Column], list[list[Any]], list[Any]]:
    """The payments-received report as an export's columns, rows and totals row; periods
    (day, week, month) as real dates."""
    period = group_by in ("day", "week", "month")
    columns = [
        Column(group_by.title(), date=period),
        Column("Payments"),
        Column("Amount", money=True),
    ]
    rows: list[list[Any]] = [
        [date.fromisoformat(r.label) if period else r.label, r.payments, r.amount]
        for r in report.rows
    ]
    total = report.total
    return columns, rows, ["Total", total.payments, total.amount]
