"""Finance reports: payments received by period, provider or category, and receivables aging.

Everything is aggregated in SQL, in cents. A report's rows always come with a totals row
that equals the sum of the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.billing.invoice_status import is_overdue
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.jobs.queries import unindexed
from core.reporting.periods import period_key, period_label

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
    in_range = [
        Payment.status == "received",
        when >= datetime.combine(start, time(), UTC),
        when < datetime.combine(end + timedelta(days=1), time(), UTC),
    ]
    # Only the tables the grouping and the date need: every payment has exactly one job
    # (a required foreign key), and a job one provider and one service.
    rows: Iterable[Any]
    if group_by == "provider" or group_by == "category":
        # By id first (small integer keys, no name read per payment), then by name: two
        # providers (or services) of one name still make one row, as grouping by it does.
        owner, name = (
            (Job.provider_id, ServiceProvider.name)
            if group_by == "provider"
            else (Job.service_id, Service.category)
        )
        named_table = ServiceProvider if group_by == "provider" else Service
        per_id = (
            select(
                owner.label("owner"), func.count().label("n"), func.sum(Payment.amount).label("s")
            )
            .select_from(Payment)
            .join(Job, Job.id == Payment.job_id)
            .where(*in_range)
            .group_by(owner)
            .subquery()
        )
        rows = session.execute(
            select(name, func.sum(per_id.c.n), func.sum(per_id.c.s))
            .select_from(per_id)
            .join(named_table, named_table.id == per_id.c.owner)
            .group_by(name)
            .order_by(name)
        )
        label: Callable[[Any], str] = str
    else:
        key = period_key(when, group_by, session.get_bind().dialect.name)
        query = select(key, func.count(), func.sum(Payment.amount)).select_from(Payment)
        if basis == "completed":
            query = query.join(Job, Job.id == Payment.job_id)
        rows = session.execute(query.where(*in_range).group_by(key).order_by(key))
        label = period_label
    basis_text = "paid date" if basis == "paid" else "completed date"
    return Report(
        f"Payments received by {group_by}, {start} to {end} ({basis_text})",
        [ReportRow(label(name), int(count), int(amount)) for name, count, amount in rows],
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
    # Only a current invoice that is open has a due date that counts, so only those are
    # joined: any other current invoice leaves the job "not invoiced", as no invoice does.
    # (`is_current` stated plainly, so PostgreSQL reads them from the partial index on
    # current copies; SQLite looks each job's up by job id rather than read every open one
    # for each job from that index.)
    status = unindexed(StripeInvoice.status.expression, session.get_bind().dialect.name)
    open_current = and_(StripeInvoice.job_id == Job.id, StripeInvoice.is_current, status == "open")
    rows = (
        session.connection()
        .execute(
            select(
                Job.id, Customer.name, ServiceProvider.name, Payment.amount, StripeInvoice.due_date
            )
            .join(Payment, Payment.job_id == Job.id)
            .join(Customer, Customer.id == Job.customer_id)
            .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
            .outerjoin(StripeInvoice, open_current)
            .where(Job.status == "completed", Payment.status == "pending")
            .order_by(Job.completed_at, Job.id)
        )
        .all()
    )
    details = []
    jobs = dict.fromkeys(AGING_BUCKETS, 0)
    owed = dict.fromkeys(AGING_BUCKETS, 0)
    for job_id, customer, provider, amount, open_due in rows:
        late = (now - open_due).days if open_due and is_overdue("open", open_due, now) else -1
        bucket = aging_bucket(late) if open_due else NOT_INVOICED
        details.append(
            AgingRow(
                job_id,
                customer,
                provider,
                int(amount),
                open_due,
                max(late, 0),
                bucket,
                open_due is not None,
            )
        )
        jobs[bucket] += 1
        owed[bucket] += int(amount)
    summary = [ReportRow(bucket, jobs[bucket], owed[bucket]) for bucket in AGING_BUCKETS]
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
