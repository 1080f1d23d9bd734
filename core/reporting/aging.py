"""Receivables aging: what customers owe for completed jobs, by how late it is.

A job is late only by its current invoice's due date while that invoice is open, and late
as soon as it is overdue by the app's one rule (core.billing.invoice_status `is_overdue`:
open and past its due date), so an invoice an hour past due is in "1-7 days late", as the
admin's overdue filter counts it. Lateness is counted in days begun: an hour late is one
day, seven days and an hour is eight. A job with no open invoice is owed but not yet
billed, and counted apart. A refund or a dispute leaves a paid job paid and its payment
received, so money that moves back is never owed again: receivables do not change. The
summary is counted in SQL, one pass over the unpaid jobs with each bucket's due-date
bounds worked out once; the detail rows, which the dashboard shows a page of and the
export streams in full, come from one query and one conversion (`aging_query`,
`aging_row`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from core.billing.invoice_status import is_overdue, overdue_condition
from core.db.models import Customer, Job, Payment, ServiceProvider, StripeInvoice, utcnow
from core.identity.actor import Actor
from core.identity.permissions import require
from core.jobs.queries import unindexed
from core.reporting.reports import ReportRow

NOT_INVOICED = "not invoiced"
NOT_YET_DUE = "not yet due"
# (bucket, the most days late it holds); the last holds everything later.
LATE_BUCKETS = (
    ("1-7 days late", 7),
    ("8-30 days late", 30),
    ("31-60 days late", 60),
    ("over 60 days late", None),
)
AGING_BUCKETS = (NOT_INVOICED, NOT_YET_DUE, *(name for name, _ in LATE_BUCKETS))
DAY = timedelta(days=1)


@dataclass(frozen=True)
class AgingRow:
    job_id: int
    customer: str
    provider: str
    amount: int
    due_date: datetime | None  # the open invoice's; None when not invoiced
    days_past_due: int  # days begun since the due date; 0 when not overdue
    bucket: str
    invoiced: bool


def days_late(due_date: datetime, now: datetime) -> int:
    """Days begun since an open invoice's due date, at `now`: 0 unless it is overdue, 1
    from the first moment it is, 8 once it is seven whole days late."""
    if not is_overdue("open", due_date, now):
        return 0
    return -((due_date - now) // DAY)


def aging_bucket(days_late: int) -> str:
    """The bucket of an open invoice `days_late` days late (as `days_late` counts them)."""
    if days_late < 1:
        return NOT_YET_DUE
    for name, most in LATE_BUCKETS:
        if most is None or days_late <= most:
            return name
    raise AssertionError("the last bucket has no bound")


def _unpaid_jobs(session: Session, *columns: Any) -> Select[Any]:
    # Only a current invoice that is open has a due date that counts, so only those are
    # joined: any other current invoice leaves the job "not invoiced", as no invoice does.
    # (`is_current` stated plainly, so PostgreSQL reads them from the partial index on
    # current copies; SQLite looks each job's up by job id rather than read every open one
    # for each job from that index.)
    status = unindexed(StripeInvoice.status.expression, session.get_bind().dialect.name)
    open_current = and_(StripeInvoice.job_id == Job.id, StripeInvoice.is_current, status == "open")
    return (
        select(*columns)
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(StripeInvoice, open_current)
        .where(Job.status == "completed", Payment.status == "pending")
    )


def aging_query(session: Session) -> Select[Any]:
    """Every unpaid completed job, oldest completion first: job, customer, provider,
    amount, and the open invoice's due date (NULL when not invoiced)."""
    return (
        _unpaid_jobs(
            session,
            Job.id,
            Customer.name,
            ServiceProvider.name,
            Payment.amount,
            StripeInvoice.due_date,
        )
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .order_by(Job.completed_at, Job.id)
    )


def aging_row(row: Any, now: datetime) -> AgingRow:
    """One row of `aging_query`, with its lateness worked out at `now`."""
    job_id, customer, provider, amount, open_due = row
    if open_due is None:
        return AgingRow(job_id, customer, provider, int(amount), None, 0, NOT_INVOICED, False)
    late = days_late(open_due, now)
    return AgingRow(
        job_id, customer, provider, int(amount), open_due, late, aging_bucket(late), True
    )


def aging_summary(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> list[ReportRow]:
    """Jobs and amount owed in each of `AGING_BUCKETS`, counted by the database."""
    require(actor, "reports.read")
    now = now or utcnow()
    due = StripeInvoice.due_date
    # The rows' rule as due-date bounds: not overdue is `not (due < now)`, and at most
    # `most` days begun late is `due >= now - most days` (`days_late` is then <= most).
    whens: list[tuple[Any, Any]] = [(due.is_(None), literal(NOT_INVOICED))]
    whens.append((~overdue_condition("open", due, now), literal(NOT_YET_DUE)))
    for name, most in LATE_BUCKETS:
        bound = literal(True) if most is None else due >= now - timedelta(days=most)
        whens.append((bound, literal(name)))
    bucket = case(*whens).label("bucket")
    counted = {
        name: (int(jobs), int(amount or 0))
        for name, jobs, amount in session.connection().execute(
            _unpaid_jobs(session, bucket, func.count(), func.sum(Payment.amount)).group_by(bucket)
        )
    }
    return [ReportRow(name, *counted.get(name, (0, 0))) for name in AGING_BUCKETS]


def aging_details(
    session: Session, *, actor: Actor, now: datetime | None = None, limit: int | None = None
) -> list[AgingRow]:
    """The unpaid jobs themselves, oldest completion first (the first `limit` of them)."""
    require(actor, "reports.read")
    now = now or utcnow()
    query = aging_query(session)
    if limit is not None:
        query = query.limit(limit)
    return [aging_row(row, now) for row in session.connection().execute(query)]


def receivables_aging(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> tuple[list[ReportRow], list[AgingRow]]:
    """The summary and every detail row, at one `now`."""
    now = now or utcnow()
    return aging_summary(session, actor=actor, now=now), aging_details(
        session, actor=actor, now=now
    )
