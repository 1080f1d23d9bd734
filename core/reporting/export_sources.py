"""What each export holds: its columns, and its rows streamed from the database.

Two detail exports can grow without bound, so their rows are read `STREAM_ROWS` at a time
(`yield_per`: a server-side cursor on PostgreSQL) and written as they arrive, never held
in a list:

- `payments`: every received payment between two dates, on the paid or the completed
  date, as `reports.payments_received` counts them (its total equals that report's);
- `aging`: every unpaid completed job, the receivables aging's detail
  (`core.reporting.aging`'s own query and rows).

The summary report (`payments_received`, a few hundred rows at most) is exported from the
`Report` the page already holds (`summary_table`, `ReportSpec`).

Every file is named after what it holds (report, grouping, date basis, range), and every
workbook has a parameters sheet: the same, when and for whom it was made, the currency,
and its totals (`parameters`).
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
from core.reporting.reports import BASIS_TEXT, Basis, Grouping, Report

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
    Column("Days late"),
    Column("Bucket"),
    Column("Invoiced"),
)


@dataclass(frozen=True)
class Provenance:
    """Who asks for a file (the person's name; their role comes from the actor) and the
    currency its money is in, for the workbook's parameters sheet."""

    name: str | None = None
    currency: str = "usd"


UNNAMED = Provenance()  # nobody named: the parameters sheet gives the actor's role alone


@dataclass(frozen=True)
class ReportSpec:
    """The payments-received report as asked for: received between `start` and `end`
    (inclusive, UTC) on the `basis` date, grouped by `group_by`."""

    start: date
    end: date
    group_by: Grouping
    basis: Basis = "paid"

    @property
    def file_stem(self) -> str:
        return f"payments-by-{self.group_by}-{self.basis}-{self.start}-to-{self.end}"

    def file_name(self, fmt: Format) -> str:
        return f"{self.file_stem}.{fmt}"


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

    def file_name(self, fmt: Format, on: date | None = None) -> str:
        """The file's name: the payments' range and basis, or the day (UTC) the aging is of
        (`on`, today unless given)."""
        if self.kind == "payments":
            return f"every-payment-{self.basis}-{self.start}-to-{self.end}.{fmt}"
        return f"receivables-aging-{on or utcnow().date()}.{fmt}"


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


def parameters(
    report: str,
    *,
    actor: Actor,
    provenance: Provenance,
    at: datetime,
    grouping: str,
    basis: Basis | None = None,
    start: date | None = None,
    end: date | None = None,
) -> exports.About:
    """What a workbook's parameters sheet says it holds, above the totals `write_xlsx` adds."""
    about: list[tuple[str, Any]] = [("Report", report), ("Grouping", grouping)]
    if basis is not None:
        about.append(("Date basis", BASIS_TEXT[basis]))
    if start is not None and end is not None:
        about += [("From", start), ("To", end)]
    by = actor.role if provenance.name is None else f"{provenance.name} ({actor.role})"
    about += [
        ("Generated at (UTC)", at.replace(microsecond=0)),  # to the second, as shown
        ("Generated by", by),
        ("Currency", provenance.currency.upper()),
    ]
    return about


def detail_parameters(
    spec: DetailSpec, *, actor: Actor, provenance: Provenance, at: datetime
) -> exports.About:
    if spec.kind == "payments":
        return parameters(
            "Every payment received",
            actor=actor,
            provenance=provenance,
            at=at,
            grouping="one row per payment",
            basis=spec.basis,
            start=spec.start,
            end=spec.end,
        )
    return parameters(
        "Receivables aging",
        actor=actor,
        provenance=provenance,
        at=at,
        grouping="one row per unpaid job, lateness as of the time generated",
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
    provenance: Provenance = UNNAMED,
) -> int:
    """Stream the export into `out` as CSV or XLSX, with a totals row summed as it goes
    (and, in XLSX, the parameters sheet); returns the number of rows written."""
    now = now or utcnow()
    rows = stream_rows(session, actor=actor, spec=spec, now=now)
    if fmt == "csv":
        return exports.write_csv(out, spec.columns, rows, Sums(), progress=progress)
    if fmt == "xlsx":
        about = detail_parameters(spec, actor=actor, provenance=provenance, at=now)
        return exports.write_xlsx(
            out, spec.columns, rows, Sums(), title=spec.title, progress=progress, about=about
        )
    raise InvalidInput(f"unknown export format {fmt!r}")


def build(
    readers: sessionmaker[Session],
    *,
    actor: Actor,
    spec: DetailSpec,
    fmt: Format,
    provenance: Provenance = UNNAMED,
    now: datetime | None = None,
) -> bytes:
    """The whole export in memory, for one small enough to hand over in a page request."""
    buffer = io.BytesIO()
    with session_scope(readers) as session:
        write(session, buffer, actor=actor, spec=spec, fmt=fmt, provenance=provenance, now=now)
    return buffer.getvalue()


def summary_parameters(
    spec: ReportSpec, *, actor: Actor, provenance: Provenance, now: datetime | None = None
) -> exports.About:
    """The parameters sheet of the payments-received report's workbook, made now."""
    return parameters(
        "Payments received",
        actor=actor,
        provenance=provenance,
        at=now or utcnow(),
        grouping=spec.group_by,
        basis=spec.basis,
        start=spec.start,
        end=spec.end,
    )


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
