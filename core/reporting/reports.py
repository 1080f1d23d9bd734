"""Finance reports: payments received by period, provider or category, and receivables aging.

Everything is aggregated in SQL, in cents. A report's rows always come with a totals row
that equals the sum of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.billing.invoice_copies import current_invoice_of_job
from core.billing.invoice_status import is_overdue
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting.periods import period_start

Basis = Literal["paid", "completed"]
Grouping = Literal["day", "week", "month", "provider", "category"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month", "provider", "category")
# A job is late only by its open invoice's due date (the app's one overdue rule); a job
# with no open invoice is owed but not yet billed, and counted apart.
NOT_INVOICED = "not invoiced"
AGING_BUCKETS = (
    NOT_INVOICED,
    "not yet due",
    "1-7 days",
    "8-30 days",
    "31-60 days",
    "over 60 days",
)


@dataclass(frozen=True)
class ReportRow:
    label: str
    payments: int
    amount: int  # cents


@dataclass(frozen=True)
class Report:
    title: str
    rows: list[ReportRow]

    @property
    def total(self) -> ReportRow:
        return ReportRow(
            "Total", sum(r.payments for r in self.rows), sum(r.amount for r in self.rows)
        )


def payments_received(
    session: Session,
    *,
    actor: Actor,
    start: date,
    end: date,
    group_by: Grouping,
    basis: Basis = "paid",
) -> Report:
    """Received payments between two dates (inclusive), dated by payment or completion."""
    require(actor, "reports.read")
    if end < start:
        raise InvalidInput("the end date is before the start date")
    if group_by not in GROUPINGS or basis not in ("paid", "completed"):
        raise InvalidInput("unknown grouping or date basis")
    when = Payment.marked_at if basis == "paid" else Job.completed_at
    label: ColumnElement[str]
    if group_by == "provider":
        label = ServiceProvider.name.expression
    elif group_by == "category":
        label = Service.category.expression
    else:
        label = period_start(when, group_by, session.get_bind().dialect.name)
    rows = session.execute(
        select(label, func.count(), func.sum(Payment.amount))
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .where(
            Payment.status == "received",
            when >= datetime.combine(start, time(), UTC),
            when < datetime.combine(end + timedelta(days=1), time(), UTC),
        )
        .group_by(label)
        .order_by(label)
    )
    basis_text = "paid date" if basis == "paid" else "completed date"
    return Report(
        f"Payments received by {group_by}, {start} to {end} ({basis_text})",
        [ReportRow(str(name), int(count), int(amount)) for name, count, amount in rows],
    )


@dataclass(frozen=True)
class AgingRow:
    job_id: int
    customer: str
    provider: str
    amount: int
    due_date: datetime | None  # the open invoice's; None when not invoiced
    days_past_due: int
    bucket: str
    invoiced: bool


def receivables_aging(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> tuple[list[ReportRow], list[AgingRow]]:
    """Unpaid completed jobs by how late their current invoice is."""
    require(actor, "reports.read")
    now = now or utcnow()
    rows = session.execute(
        select(
            Job.id,
            Customer.name,
            ServiceProvider.name,
            Payment.amount,
            StripeInvoice.status,
            StripeInvoice.due_date,
        )
        .join(Payment, Payment.job_id == Job.id)
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .outerjoin(StripeInvoice, current_invoice_of_job())
        .where(Job.status == "completed", Payment.status == "pending")
        .order_by(Job.completed_at, Job.id)
    )
    details = []
    for job_id, customer, provider, amount, status, due_date in rows:
        open_due = due_date if status == "open" else None
        late = (now - open_due).days if open_due and is_overdue(status, open_due, now) else -1
        details.append(
            AgingRow(
                job_id,
                customer,
                provider,
                int(amount),
                open_due,
                max(late, 0),
                aging_bucket(late) if open_due else NOT_INVOICED,
                open_due is not None,
            )
        )
    summary = [
        ReportRow(
            bucket,
            sum(1 for d in details if d.bucket == bucket),
            sum(d.amount for d in details if d.bucket == bucket),
        )
        for bucket in AGING_BUCKETS
    ]
    return summary, details


def aging_bucket(days_late: int) -> str:
    """The lateness bucket of an open invoice `days_late` days past its due date."""
    if days_late < 1:
        return AGING_BUCKETS[1]
    if days_late <= 7:
        return AGING_BUCKETS[2]
    if days_late <= 30:
        return AGING_BUCKETS[3]
    if days_late <= 60:
        return AGING_BUCKETS[4]
    return AGING_BUCKETS[5]
