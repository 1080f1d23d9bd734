"""The jobs table that providers and admins page through, filtered and paged in SQL.

Scope comes from the actor, never from the filters: a provider's query is always limited
to their own jobs, whatever provider id the page asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.billing.invoice_copies import current_invoice_of_job
from core.billing.invoice_status import overdue_condition, shown_status
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.identity.actor import Actor
from core.identity.permissions import jobs_visible_to, require


@dataclass(frozen=True)
class JobFilter:
    statuses: tuple[str, ...] = ()
    provider_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    search: str | None = None  # a job number ("42", "#42") or part of a customer's name
    overdue_only: bool = False
    job_id: int | None = None  # exactly this job (still within the actor's scope)


@dataclass(frozen=True)
class JobRow:
    job_id: int
    created_at: datetime
    completed_at: datetime | None
    paid_at: datetime | None
    service: str
    category: str
    customer: str
    provider: str
    provider_id: int
    price: int
    job_status: str
    payment_status: str
    invoice_id: str | None
    invoice_status: str  # one of core.billing.invoice_status.SHOWN_STATUSES
    due_date: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


@dataclass(frozen=True)
class JobPage:
    rows: list[JobRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_jobs(
    session: Session,
    *,
    actor: Actor,
    filters: JobFilter = JobFilter(),
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


def provider_names(session: Session) -> dict[int, str]:
    """Every provider's name by id, in name order (for filters and pickers)."""
    query = select(ServiceProvider.id, ServiceProvider.name).order_by(ServiceProvider.name)
    return dict(session.execute(query).all())
