"""The read path as it was before migration 0005 and the query changes that came with it,
kept verbatim as the read-path benchmarks' reference: each benchmark times the current code
against it in alternating rounds, and checks that both give identical results.

Only the functions the benchmarks compare are here; their dataclasses are today's (the
results are compared field by field).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.billing.invoice_copies import current_invoice_of_job
from core.billing.invoice_status import is_overdue, overdue_condition, shown_status
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.errors import InvalidInput, NotFound
from core.identity.actor import Actor
from core.identity.permissions import jobs_visible_to, require, require_provider_scope
from core.jobs.queries import JobFilter, JobPage, JobRow
from core.reporting.aging import AGING_BUCKETS, NOT_INVOICED, AgingRow, aging_bucket, days_late
from core.reporting.earnings import Bucket, EarningsSummary
from core.reporting.periods import Period, period_labels
from core.reporting.reports import GROUPINGS, Basis, Grouping, Report, ReportRow

EVERY_JOB = JobFilter()


def period_start(column: Any, period: Period, dialect: str) -> ColumnElement[str]:
    """The first day of the period holding `column`, as 'YYYY-MM-DD' (weeks start Monday)."""
    if dialect == "sqlite":
        if period == "day":
            return func.date(column)
        if period == "week":
            # Back six days, then forward to a Monday: the Monday on or before the date.
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-01", column)
    utc = func.timezone(literal_column("'UTC'"), column)
    return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")


def list_jobs(
    session: Session,
    *,
    actor: Actor,
    filters: JobFilter = EVERY_JOB,
    page: int = 1,
    page_size: int = 25,
    now: datetime | None = None,
) -> JobPage:
    now = now or utcnow()
    page_size = max(1, min(page_size, 200))
    require(actor, "job.read")
    invoice = StripeInvoice
    overdue = overdue_condition(invoice.status, invoice.due_date, now)
    conditions: list[ColumnElement[bool]] = [jobs_visible_to(actor)]
    if filters.statuses:
        conditions.append(Job.status.in_(filters.statuses))
    if filters.provider_id is not None:
        conditions.append(Job.provider_id == filters.provider_id)
    if filters.created_from is not None:
        conditions.append(
            Job.created_at >= datetime.combine(filters.created_from, time(), now.tzinfo)
        )
    if filters.created_to is not None:
        end = datetime.combine(filters.created_to + timedelta(days=1), time(), now.tzinfo)
        conditions.append(Job.created_at < end)
    if filters.overdue_only:
        conditions.append(overdue)
    if filters.job_id is not None:
        conditions.append(Job.id == filters.job_id)
    text = (filters.search or "").strip().lstrip("#")
    if text:
        by_name = func.lower(Customer.name).contains(text.lower(), autoescape=True)
        conditions.append(or_(Job.id == int(text), by_name) if text.isdigit() else by_name)

    base = (
        select(
            Job,
            Customer.name,
            ServiceProvider.name,
            Service.name,
            Service.category,
            Payment.status,
            invoice.invoice_id,
            invoice.status,
            invoice.due_date,
            invoice.hosted_invoice_url,
            invoice.invoice_pdf,
        )
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(invoice, current_invoice_of_job())
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // page_size))))
    result = session.execute(
        base.order_by(Job.created_at.desc(), Job.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = []
    for job, customer, provider, service, category, payment_status, *inv in result:
        invoice_id, status, due_date, hosted, pdf = inv
        rows.append(
            JobRow(
                job_id=job.id,
                created_at=job.created_at,
                completed_at=job.completed_at,
                paid_at=job.paid_at,
                service=service,
                category=category,
                customer=customer,
                provider=provider,
                provider_id=job.provider_id,
                price=job.price,
                job_status=job.status,
                payment_status=payment_status,
                invoice_id=invoice_id,
                invoice_status=shown_status(status, due_date, now),
                due_date=due_date,
                hosted_invoice_url=hosted,
                invoice_pdf=pdf,
            )
        )
    return JobPage(rows, int(total), page, page_size)


def _provider(session: Session, provider_id: int, actor: Actor) -> ServiceProvider:
    """The provider, if the actor may read its figures; NotFound otherwise."""
    require_provider_scope(actor, provider_id)
    provider = session.get(ServiceProvider, provider_id)
    if provider is None:
        raise NotFound(f"No provider #{provider_id}")
    return provider


def summary(session: Session, *, provider_id: int, actor: Actor) -> EarningsSummary:
    provider = _provider(session, provider_id, actor)
    outstanding, count = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.provider_id == provider_id, Job.status == "completed")
    ).one()
    return EarningsSummary(
        provider_id=provider_id,
        balance=provider.earnings,
        jobs_paid=provider.total_jobs,
        outstanding=int(outstanding),
        jobs_outstanding=int(count),
    )


def _provider_received(provider_id: int) -> list[ColumnElement[bool]]:
    return [Job.provider_id == provider_id, Payment.status == "received"]


def by_month(
    session: Session,
    *,
    provider_id: int,
    actor: Actor,
    months: int = 12,
    now: datetime | None = None,
) -> list[Bucket]:
    """Received payments per calendar month (by the day they were marked received), every
    month of the window present, empty ones at zero."""
    _provider(session, provider_id, actor)
    now = now or utcnow()
    back = now.year * 12 + now.month - 1 - (months - 1)  # months since year 0, zero-based
    first = now.replace(
        year=back // 12, month=back % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    month = period_start(Payment.marked_at, "month", session.get_bind().dialect.name)
    rows = session.execute(
        select(month, func.sum(Payment.amount), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(*_provider_received(provider_id), Payment.marked_at >= first)
        .group_by(month)
    )
    found = {label: (int(amount), int(count)) for label, amount, count in rows}
    buckets, cursor = [], first
    while cursor <= now:
        label = cursor.strftime("%Y-%m-01")
        amount, count = found.get(label, (0, 0))
        buckets.append(Bucket(label, amount, count))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return buckets


def by_category(session: Session, *, provider_id: int, actor: Actor) -> list[Bucket]:
    _provider(session, provider_id, actor)
    rows = session.execute(
        select(Service.category, func.sum(Payment.amount), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(Service, Service.id == Job.service_id)
        .where(*_provider_received(provider_id))
        .group_by(Service.category)
        .order_by(func.sum(Payment.amount).desc())
    )
    return [Bucket(category, int(amount), int(count)) for category, amount, count in rows]


def last_days(
    session: Session,
    *,
    provider_id: int,
    actor: Actor,
    days: int = 30,
    now: datetime | None = None,
) -> Bucket:
    _provider(session, provider_id, actor)
    since = (now or utcnow()) - timedelta(days=days)
    amount, count = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(*_provider_received(provider_id), Payment.marked_at >= since)
    ).one()
    return Bucket(f"last {days} days", int(amount), int(count))


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
    found = [ReportRow(str(name), int(count), int(amount)) for name, count, amount in rows]
    if group_by in ("day", "week", "month"):
        # Reports now list every period, the empty ones at zero: the same answer from here.
        counted = {row.label: row for row in found}
        labels = sorted(set(period_labels(start, end, group_by)) | counted.keys())
        found = [counted.get(label, ReportRow(label, 0, 0)) for label in labels]
    return Report(f"Payments received by {group_by}, {start} to {end} ({basis_text})", found)


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
        # Lateness as the aging now counts it (days begun), so both give the same answer.
        late = days_late(open_due, now) if open_due and is_overdue(status, open_due, now) else -1
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
