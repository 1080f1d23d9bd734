"""The jobs table that providers and admins page through, filtered and paged in SQL.

Scope comes from the actor, never from the filters: a provider's query is always limited
to their own jobs, whatever provider id the page asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice, utcnow
from core.identity.actor import Actor

INVOICE_FILTERS = ("none", "draft", "open", "overdue", "paid", "void", "uncollectible")


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
    invoice_status: str  # none, draft, open, overdue, paid, void, uncollectible
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


def current_invoices() -> Select[tuple[int, str, str, datetime | None, str | None, str | None]]:
    """Per job, the invoice that matters: the newest one that is not void, else the newest."""
    order = (
        case((StripeInvoice.status == "void", 1), else_=0),
        StripeInvoice.created.desc(),
    )
    ranked = select(
        StripeInvoice.job_id,
        StripeInvoice.invoice_id,
        StripeInvoice.status,
        StripeInvoice.due_date,
        StripeInvoice.hosted_invoice_url,
        StripeInvoice.invoice_pdf,
        func.row_number().over(partition_by=StripeInvoice.job_id, order_by=order).label("rank"),
    ).subquery()
    return select(
        ranked.c.job_id,
        ranked.c.invoice_id,
        ranked.c.status,
        ranked.c.due_date,
        ranked.c.hosted_invoice_url,
        ranked.c.invoice_pdf,
    ).where(ranked.c.rank == 1)


def scope_condition(actor: Actor) -> ColumnElement[bool]:
    """The jobs an actor may see, as a WHERE condition."""
    if actor.role == "provider":
        return Job.provider_id == actor.id
    if actor.role == "customer":
        return Job.customer_id == actor.id
    if actor.role in ("admin", "finance", "system"):
        return true()
    return false()


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
    invoice = current_invoices().subquery()
    overdue = and_(invoice.c.status == "open", invoice.c.due_date < now)
    conditions: list[ColumnElement[bool]] = [scope_condition(actor)]
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
            invoice,
        )
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(invoice, invoice.c.job_id == Job.id)
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
        _, invoice_id, status, due_date, hosted, pdf = inv
        shown = status or "none"
        if status == "open" and due_date is not None and due_date < now:
            shown = "overdue"
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
                invoice_status=shown,
                due_date=due_date,
                hosted_invoice_url=hosted,
                invoice_pdf=pdf,
            )
        )
    return JobPage(rows, int(total), page, page_size)
