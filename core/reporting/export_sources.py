"""What each export holds: its columns, and its rows streamed from the database.

The detail exports can grow without bound, so their rows are read `STREAM_ROWS` at a time
(`yield_per`: a server-side cursor on PostgreSQL) and written as they arrive, never held
in a list:

- `payments`: every received payment between two dates, on the paid or the completed
  date, as `reports.payments_received` counts them (its gross equals that report's), each
  with what has been refunded of it, lost in disputes and is held by open ones to date
  (whenever that happened), and its net to date;
- `money_back`: every refund and dispute between two dates, whatever its status, on the
  date the payments report counts it on (a refund's own date; a dispute's closing, or
  its opening while open), with what it counts for there (its refunded, disputes lost and
  held totals equal that report's), its reason and memo;
- `aging`: every unpaid completed job, the receivables aging's detail
  (`core.reporting.aging`'s own query and rows). A refund leaves a paid job paid, so it
  is never owed again: refunds do not change receivables.

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

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import (
    Customer,
    Job,
    JobMoneyBack,
    Payment,
    Service,
    ServiceProvider,
    utcnow,
)
from core.db.session import session_scope
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting import exports
from core.reporting.aging import aging_query, aging_row
from core.reporting.exports import Column, Progress, Sums
from core.reporting.money_back_export import MONEY_BACK_COLUMNS, MONEY_BACK_NOTES, money_back_query
from core.reporting.periods import utc_date
from core.reporting.reports import (
    BASIS_TEXT,
    Basis,
    Grouping,
    Report,
    ReportRow,
    money_back_notes,
)

Kind = Literal["payments", "money_back", "aging"]
Format = Literal["csv", "xlsx"]
KINDS: tuple[Kind, ...] = ("payments", "money_back", "aging")
RANGED: tuple[Kind, ...] = ("payments", "money_back")  # the kinds between two dates
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
    Column("Refunded to date", money=True),
    Column("Disputes lost to date", money=True),
    Column("Net to date", money=True),
    Column("Held in open disputes", money=True),
)
# The payments-received report's columns after its grouping (see `reports.money_back_notes`).
SUMMARY_COLUMNS = (
    Column("Payments"),
    Column("Gross", money=True),
    Column("Refunded", money=True),
    Column("Disputes lost", money=True),
    Column("Net", money=True),
    Column("Held", money=True),
)
PAYMENT_NOTES = (
    ("Amount", "what the payment brought in (gross), on the date basis"),
    (
        "Refunded to date",
        "refunds of the payment not failed or canceled, as of the time generated, whatever "
        "day they were made (the refunds and disputes export dates each)",
    ),
    ("Disputes lost to date", "disputes of the payment closed as lost, as of the time generated"),
    ("Net to date", "amount - refunded to date - disputes lost to date"),
    (
        "Held in open disputes",
        "what disputes still open hold now; not taken off the net unless they are lost",
    ),
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
    `basis` date, `money_back` between them on each one's own date, or the `aging` as of
    now."""

    kind: Kind
    start: date | None = None
    end: date | None = None
    basis: Basis = "paid"

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.basis not in ("paid", "completed"):
            raise InvalidInput("unknown export or date basis")
        if self.kind in RANGED:
            if self.start is None or self.end is None:
                raise InvalidInput(f"the {self.title.lower()} export needs a start and an end date")
            if self.end < self.start:
                raise InvalidInput("the end date is before the start date")

    @property
    def columns(self) -> Sequence[Column]:
        return {
            "payments": PAYMENT_COLUMNS,
            "money_back": MONEY_BACK_COLUMNS,
            "aging": AGING_COLUMNS,
        }[self.kind]

    @property
    def title(self) -> str:
        return {
            "payments": "Payments",
            "money_back": "Refunds and disputes",
            "aging": "Receivables aging",
        }[self.kind]

    def file_name(self, fmt: Format, on: date | None = None) -> str:
        """The file's name: the payments' range and basis, or the day (UTC) the aging is of
        (`on`, today unless given)."""
        if self.kind == "payments":
            return f"every-payment-{self.basis}-{self.start}-to-{self.end}.{fmt}"
        if self.kind == "money_back":
            return f"refunds-and-disputes-{self.start}-to-{self.end}.{fmt}"
        return f"receivables-aging-{on or utcnow().date()}.{fmt}"


def _payments_query(spec: DetailSpec, dialect: str) -> AnySelect:
    assert spec.start is not None and spec.end is not None
    when = Payment.marked_at if spec.basis == "paid" else Job.completed_at
    # job_money_back has a row only for jobs with a refund or dispute: a few, by job id.
    refunded = func.coalesce(JobMoneyBack.refunded, 0)
    lost = func.coalesce(JobMoneyBack.dispute_lost, 0)
    return (
        select(
            utc_date(Payment.marked_at, dialect),
            utc_date(Job.completed_at, dialect),
            Job.id,
            ServiceProvider.name,
            Customer.name,
            Service.category,
            Payment.method,
            Payment.amount,
            refunded,
            lost,
            Payment.amount - refunded - lost,
            func.coalesce(JobMoneyBack.disputed, 0),
        )
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Customer, Customer.id == Job.customer_id)
        .outerjoin(JobMoneyBack, JobMoneyBack.job_id == Job.id)
        .where(
            Payment.status == "received",
            when >= datetime.combine(spec.start, time(), UTC),
            when < datetime.combine(spec.end + timedelta(days=1), time(), UTC),
        )
        .order_by(when, Job.id)
    )


def _query(session: Session, spec: DetailSpec) -> AnySelect:
    dialect = session.get_bind().dialect.name
    if spec.kind == "payments":
        return _payments_query(spec, dialect)
    if spec.kind == "money_back":
        assert spec.start is not None and spec.end is not None
        return money_back_query(spec.start, spec.end, dialect)
    return aging_query(session)


def count_rows(session: Session, *, actor: Actor, spec: DetailSpec) -> int:
    """How many rows the export has (for progress; the export itself counts what it writes)."""
    require(actor, "reports.read")
    query = _query(session, spec)
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
    if spec.kind != "aging":
        yield from connection.execute(_query(session, spec), execution_options=options)
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
    notes: exports.About = (),
) -> exports.About:
    """What a workbook's parameters sheet says it holds, above the totals `write_xlsx` adds;
    `notes` say what its columns mean."""
    about: list[tuple[str, Any]] = [("Report", report), ("Grouping", grouping)]
    if basis is not None:
        about.append(("Date basis", BASIS_TEXT[basis]))
    if start is not None and end is not None:
        about += [("From", start), ("To", end)]
    about += notes
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
            notes=PAYMENT_NOTES,
        )
    if spec.kind == "money_back":
        return parameters(
            "Every refund and dispute",
            actor=actor,
            provenance=provenance,
            at=at,
            grouping="one row per refund or dispute, whatever its status",
            start=spec.start,
            end=spec.end,
            notes=MONEY_BACK_NOTES,
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
        notes=money_back_notes(spec.basis),
    )


def summary_table(
    report: Report, group_by: Grouping
) -> tuple[list[Column], list[list[Any]], list[Any]]:
    """The payments-received report as an export's columns, rows and totals row; periods
    (day, week, month) as real dates."""
    period = group_by in ("day", "week", "month")
    columns = [Column(group_by.title(), date=period), *SUMMARY_COLUMNS]
    rows: list[list[Any]] = [
        [date.fromisoformat(r.label) if period else r.label, *summary_figures(r)]
        for r in report.rows
    ]
    return columns, rows, ["Total", *summary_figures(report.total)]


def summary_figures(row: ReportRow) -> list[int]:
    """A report row's figures in the order of `SUMMARY_COLUMNS`."""
    return [row.payments, row.gross, row.refunded, row.disputed, row.net, row.held]
