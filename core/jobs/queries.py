"""The jobs table that providers and admins page through, filtered and paged in SQL.

Scope comes from the actor, never from the filters: a provider's query is always limited
to their own jobs, whatever provider id the page asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, any_, func, literal, null, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.operators import custom_op

from core.billing.invoice_copies import current_invoice_of_job
from core.billing.invoice_status import (
    MONEY_BACK_STATUSES,
    overdue_condition,
    shown_status,
    shown_status_condition,
)
from core.db.models import (
    Customer,
    Job,
    JobMoneyBack,
    Payment,
    Service,
    ServiceProvider,
    StripeInvoice,
    utcnow,
)
from core.identity.actor import Actor
from core.identity.permissions import jobs_visible_to, require

T = TypeVar("T")


def unindexed(column: ColumnElement[T], dialect: str) -> ColumnElement[T]:
    """`column` as a term SQLite's planner will not answer from an index: `+column`, the
    same value (the unary plus of SQLite's query planner documentation); elsewhere as is.

    SQLite plans without statistics (nothing here runs ANALYZE), so it takes any indexed
    equality for a selective one; this keeps it off an index that would visit far more
    rows than another way in (the reads that use it say which).
    """
    if dialect != "sqlite":
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class JobFilter:
    statuses: tuple[str, ...] = ()
    provider_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    search: str | None = None  # a job number ("42", "#42") or part of a customer's name
    overdue_only: bool = False
    job_id: int | None = None  # exactly this job (still within the actor's scope)
    # Words of core.billing.invoice_status.SHOWN_STATUSES: the job's invoice shows one.
    invoice_statuses: tuple[str, ...] = ()


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
    # Cents that moved back (the job's job_money_back row; zeros without one): refunds not
    # failed or canceled, held by open disputes, lost in disputes.
    refunded: int = 0
    disputed: int = 0
    dispute_lost: int = 0


@dataclass(frozen=True)
class JobPage:
    rows: list[JobRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _matching(
    columns: list[Any],
    actor: Actor,
    filters: JobFilter,
    now: datetime,
    dialect: str,
    *,
    walk: bool = False,
) -> Select[Any]:
    """`columns` of the jobs the actor may read that match `filters`, joining only what a
    filter needs: no row of another table is read to count jobs or to pick a page.

    Every other join of the page (customer, provider, service, payment, current invoice)
    matches exactly one row per job or, for the invoice, at most one: the foreign keys are
    required, a job's payment is made with it (core.jobs.lifecycle.create_job) and
    `payments.job_id` is unique, and one copy per job is current. So leaving them out
    changes neither which jobs match nor how many.

    `walk` (SQLite): test each job's customer against the name search, and its current
    invoice against the invoice-status filter, rather than start from the matching
    customers' jobs or invoices (see `_walk_newest_first`).
    """
    query = select(*columns).select_from(Job)
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
        # Overdue needs an open invoice, so the page's outer join is an inner one here; the
        # current copy is named by `is_current` alone (as `current_invoice_of_job`, without
        # its IS TRUE), which the partial index on current copies answers by itself.
        query = query.join(
            StripeInvoice, and_(StripeInvoice.job_id == Job.id, StripeInvoice.is_current)
        )
        conditions.append(overdue_condition(StripeInvoice.status, StripeInvoice.due_date, now))
    if filters.invoice_statuses:
        query, shown = _shown_status_filter(
            query,
            filters.invoice_statuses,
            now,
            invoice_joined=filters.overdue_only,
            walk=walk,
        )
        conditions.append(shown)
    if filters.job_id is not None:
        conditions.append(Job.id == filters.job_id)
    text = (filters.search or "").strip().lstrip("#")
    if text:
        named = select(Customer.id).where(
            func.lower(Customer.name).contains(text.lower(), autoescape=True)
        )
        customer = Job.customer_id.expression
        if walk and not text.isdigit():  # SQLite reads jobs newest first, tests each customer
            customer = unindexed(customer, dialect)
        by_name: ColumnElement[bool] = customer.in_(named)
        if text.isdigit():
            if dialect == "postgresql":
                # In an OR, PostgreSQL uses an index for both sides (a BitmapOr) only when
                # both are index conditions: `= ANY(ARRAY(subquery))` is one, `IN` is not.
                by_name = Job.customer_id == any_(func.array(named.scalar_subquery()))
            conditions.append(or_(Job.id == int(text), by_name))
        else:
            conditions.append(by_name)
    return query.where(*conditions)


def _shown_status_filter(
    query: Select[Any],
    words: tuple[str, ...],
    now: datetime,
    *,
    invoice_joined: bool,
    walk: bool = False,
) -> tuple[Select[Any], ColumnElement[bool]]:
    """`query` joined to what the invoice-status filter reads, and its condition.

    Money moved back for few jobs, each with a job_money_back row: the jobs showing a word
    of money moved back are found from that small table (`_money_back_ids`), so no job
    without such a row is read for them. The other words read each job's current invoice
    (an outer join: "none" is no invoice), as the overdue filter does, and "paid" its
    job_money_back row too (nothing may have moved back). With `walk` (SQLite, most
    jobs match) each job's current invoice is looked up by its key instead of joined, so
    that the planner reads jobs newest first and stops at the page rather than starting
    from every invoice of the status and sorting their jobs.
    """
    wanted = set(words)
    back_words = wanted & set(MONEY_BACK_STATUSES)
    rest = wanted - back_words
    either: list[ColumnElement[bool]] = []
    if back_words:
        either.append(Job.id.in_(_money_back_ids(back_words, now)))
    if rest:
        status: Any = StripeInvoice.status
        due_date: Any = StripeInvoice.due_date
        if walk and not invoice_joined:
            status = select(status).where(current_invoice_of_job()).scalar_subquery()
            due_date = select(due_date).where(current_invoice_of_job()).scalar_subquery()
        elif not invoice_joined:
            query = query.outerjoin(StripeInvoice, current_invoice_of_job())
        back: list[Any] = [0, 0, 0]
        if "paid" in rest:
            query = query.outerjoin(JobMoneyBack, JobMoneyBack.job_id == Job.id)
            back = [JobMoneyBack.refunded, JobMoneyBack.disputed, JobMoneyBack.dispute_lost]
        either.append(
            shown_status_condition(
                rest,
                status=status,
                due_date=due_date,
                now=now,
                amount=0,  # only "refunded" and "partly refunded" read it
                refunded=back[0],
                disputed=back[1],
                dispute_lost=back[2],
            )
        )
    return query, or_(*either)


def _money_back_ids(words: set[str], now: datetime) -> Select[Any]:
    """The ids of the jobs whose invoice shows one of `words` (words of money moved back),
    from job_money_back. Each such word needs a paid invoice: that is asked once per row,
    of the row's current invoice by key (and the payment's amount likewise), so no planner
    can start from the many paid invoices instead."""
    back, invoice, payment = aliased(JobMoneyBack), aliased(StripeInvoice), aliased(Payment)
    paid = (
        select(invoice.invoice_id)
        .where(invoice.job_id == back.job_id, invoice.is_current, invoice.status == "paid")
        .exists()
    )
    return select(back.job_id).where(
        paid,
        shown_status_condition(
            words,
            status=literal("paid"),  # as the EXISTS above has it
            due_date=null(),
            now=now,
            amount=select(payment.amount).where(payment.job_id == back.job_id).scalar_subquery(),
            refunded=back.refunded,
            disputed=back.disputed,
            dispute_lost=back.dispute_lost,
        ),
    )


def _walk_newest_first(
    session: Session,
    actor: Actor,
    filters: JobFilter,
    now: datetime,
    dialect: str,
    total: int,
    through: int,
) -> bool:
    """Whether SQLite should find the page of a name search or an invoice-status filter
    by reading jobs newest first.

    SQLite has no statistics (nothing here runs ANALYZE) and cannot tell how many jobs a
    `LIKE '%...%'` on names or an invoice status matches, so it starts from the matching
    customers' jobs, or the invoices of that status, and sorts them all: right for a rare
    name or "open", slow when most jobs match ("paid": four in five). Reading jobs newest
    first finds the first `through` matches after about through * scope / total jobs
    (scope: the jobs the other filters leave); starting from the customers or invoices
    costs `total`, and a sort. Read newest first only when that is clearly less (a
    quarter), since each job read costs a lookup of its customer or invoice. PostgreSQL
    estimates both itself.
    """
    text = (filters.search or "").strip().lstrip("#")
    by_name = bool(text) and not text.isdigit()
    if dialect != "sqlite" or not (by_name or filters.invoice_statuses) or total <= 500:
        return False
    others = replace(filters, search=None if by_name else filters.search, invoice_statuses=())
    scope = session.scalar(_matching([func.count()], actor, others, now, dialect)) or 0
    return 4 * through * scope < total * total


def list_jobs(
    session: Session,
    *,
    actor: Actor,
    filters: JobFilter = JobFilter(),
    page: int = 1,
    page_size: int = 25,
    now: datetime | None = None,
) -> JobPage:
    """One page of the jobs matching `filters`, newest first, and how many match.

    Three statements: the count, over `jobs` and only the tables a filter needs; the
    page's job ids, with the same filters, in index order (created_at, id); then those
    jobs' rows with their customer, provider, service, payment, current invoice and the
    money that moved back.
    """
    now = now or utcnow()
    page_size = max(1, min(page_size, 200))
    require(actor, "job.read")
    dialect = session.get_bind().dialect.name
    total = session.scalar(_matching([func.count()], actor, filters, now, dialect)) or 0
    page = max(1, min(page, max(1, -(-total // page_size))))
    offset = (page - 1) * page_size
    walk = _walk_newest_first(session, actor, filters, now, dialect, total, offset + page_size)
    newest_first = (Job.created_at.desc(), Job.id.desc())
    # The page's ids first, then their rows: each statement has one obvious plan (a planner
    # that sees only a bound LIMIT may otherwise join every job before it sorts).
    picked = list(
        session.scalars(
            _matching([Job.id], actor, filters, now, dialect, walk=walk)
            .order_by(*newest_first)
            .limit(page_size)
            .offset(offset)
        )
    )
    if not picked:
        return JobPage([], int(total), page, page_size)
    invoice = StripeInvoice
    result = session.execute(
        select(
            Job.id,
            Job.created_at,
            Job.completed_at,
            Job.paid_at,
            Service.name,
            Service.category,
            Customer.name,
            ServiceProvider.name,
            Job.provider_id,
            Job.price,
            Job.status,
            Payment.status,
            invoice.invoice_id,
            invoice.status,
            invoice.due_date,
            invoice.hosted_invoice_url,
            invoice.invoice_pdf,
            Payment.amount,
            func.coalesce(JobMoneyBack.refunded, 0),
            func.coalesce(JobMoneyBack.disputed, 0),
            func.coalesce(JobMoneyBack.dispute_lost, 0),
        )
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(invoice, current_invoice_of_job())
        .outerjoin(JobMoneyBack, JobMoneyBack.job_id == Job.id)
        .where(Job.id.in_(picked))
        .order_by(*newest_first)
    )
    rows = [
        JobRow(
            job_id=job_id,
            created_at=created_at,
            completed_at=completed_at,
            paid_at=paid_at,
            service=service,
            category=category,
            customer=customer,
            provider=provider,
            provider_id=provider_id,
            price=price,
            job_status=job_status,
            payment_status=payment_status,
            invoice_id=invoice_id,
            invoice_status=shown_status(
                status,
                due_date,
                now,
                amount=amount,
                refunded=refunded,
                disputed=disputed,
                dispute_lost=dispute_lost,
            ),
            due_date=due_date,
            hosted_invoice_url=hosted,
            invoice_pdf=pdf,
            refunded=int(refunded),
            disputed=int(disputed),
            dispute_lost=int(dispute_lost),
        )
        for (
            job_id,
            created_at,
            completed_at,
            paid_at,
            service,
            category,
            customer,
            provider,
            provider_id,
            price,
            job_status,
            payment_status,
            invoice_id,
            status,
            due_date,
            hosted,
            pdf,
            amount,
            refunded,
            disputed,
            dispute_lost,
        ) in result
    ]
    return JobPage(rows, int(total), page, page_size)


def page_of_job(
    session: Session,
    *,
    actor: Actor,
    job_id: int,
    filters: JobFilter = JobFilter(),
    page_size: int = 25,
    now: datetime | None = None,
) -> int | None:
    """The page of `list_jobs` (same filters and size) that shows `job_id`; None when the
    filters leave it out or the actor may not read it (the same answer: not found)."""
    now = now or utcnow()
    page_size = max(1, min(page_size, 200))
    require(actor, "job.read")
    dialect = session.get_bind().dialect.name
    itself = replace(filters, job_id=job_id)
    found = session.execute(
        _matching([Job.created_at, Job.id], actor, itself, now, dialect)
    ).first()
    if found is None:
        return None
    created_at, _ = found
    # Newest first: the jobs before it are the newer ones, and those of its instant with a
    # higher id (the order of `list_jobs`).
    newer = session.scalar(
        _matching([func.count()], actor, filters, now, dialect).where(
            or_(
                Job.created_at > created_at,
                and_(Job.created_at == created_at, Job.id > job_id),
            )
        )
    )
    return int(newer or 0) // page_size + 1


def provider_names(session: Session) -> dict[int, str]:
    """Every provider's name by id, in name order (for filters and pickers)."""
    query = select(ServiceProvider.id, ServiceProvider.name).order_by(ServiceProvider.name)
    return dict(session.execute(query).all())
