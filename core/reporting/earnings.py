"""A provider's money: balance, jobs paid, what is still owed, and how it adds up.

Every figure is computed in SQL from the rows, in cents, scoped to one provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db.models import Job, JobMoneyBack, Payment, Service, ServiceProvider, utcnow
from core.errors import NotFound
from core.identity.actor import Actor
from core.identity.permissions import require_provider_scope
from core.jobs.queries import unindexed
from core.reporting.periods import period_key, period_label


@dataclass(frozen=True)
class EarningsSummary:
    provider_id: int
    balance: int  # cents credited by received payments
    jobs_paid: int
    outstanding: int  # cents billed for completed jobs not yet paid
    jobs_outstanding: int


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


def received_by_provider(session: Session) -> dict[int, tuple[int, int]]:
    """Per provider: (cents their received payments keep after refunds and lost disputes,
    number of those payments not wholly taken back): what earnings and the job count must
    equal."""
    taken = func.coalesce(JobMoneyBack.taken_back, 0)
    rows = session.execute(
        select(
            Job.provider_id,
            func.coalesce(func.sum(Payment.amount - taken), 0),
            func.count(case((taken < Payment.amount, 1))),
        )
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(JobMoneyBack, JobMoneyBack.job_id == Job.id)
        .where(Payment.status == "received")
        .group_by(Job.provider_id)
    )
    return {provider_id: (int(total), int(count)) for provider_id, total, count in rows}


def ledger_mismatches(session: Session) -> list[str]:
    """Providers whose earnings or job count disagree with their payments: received minus
    refunded minus lost disputes (core.billing.money_back).

    Empty when the "money adds up" invariant (docs/architecture.md) holds.
    """
    received = received_by_provider(session)
    problems = []
    for provider in session.scalars(select(ServiceProvider).order_by(ServiceProvider.id)):
        total, count = received.get(provider.id, (0, 0))
        if (provider.earnings, provider.total_jobs) != (total, count):
            problems.append(
                f"provider #{provider.id}: earnings {provider.earnings} / {provider.total_jobs} "
                f"jobs, payments kept {total} / {count}"
            )
    return problems


@dataclass(frozen=True)
class Bucket:
    label: str  # a month "2026-11-01", a category, ...
    amount: int  # cents
    count: int


def _provider_received(session: Session, provider_id: int) -> list[ColumnElement[bool]]:
    """The provider's received payments. On SQLite the status is written `+status`, the same
    value, which SQLite's planner does not answer from an index: it plans without
    statistics (nothing runs ANALYZE) and would otherwise start from the index on payments'
    status, which holds every provider's payments, rather than from the provider's jobs."""
    status = unindexed(Payment.status.expression, session.get_bind().dialect.name)
    return [Job.provider_id == provider_id, status == "received"]


def _window_start(now: datetime, months: int) -> datetime:
    """Midnight on the first of the month `months - 1` months before `now`'s."""
    back = now.year * 12 + now.month - 1 - (months - 1)  # months since year 0, zero-based
    return now.replace(
        year=back // 12, month=back % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


def _months(first: datetime, now: datetime, found: dict[str, tuple[int, int]]) -> list[Bucket]:
    """Every month from `first` to `now`'s, with its (amount, count) from `found` or zero."""
    buckets, cursor = [], first
    while cursor <= now:
        label = cursor.strftime("%Y-%m-01")
        amount, count = found.get(label, (0, 0))
        buckets.append(Bucket(label, amount, count))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return buckets


def _by_amount(totals: dict[str, tuple[int, int]]) -> list[Bucket]:
    """Categories by amount received, largest first (ties by name)."""
    return [
        Bucket(category, amount, count)
        for category, (amount, count) in sorted(totals.items(), key=lambda c: (-c[1][0], c[0]))
    ]


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
    first = _window_start(now, months)
    month = period_key(Payment.marked_at, "month", session.get_bind().dialect.name)
    rows = session.execute(
        select(month, func.sum(Payment.amount), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(*_provider_received(session, provider_id), Payment.marked_at >= first)
        .group_by(month)
    )
    found = {period_label(key): (int(amount), int(count)) for key, amount, count in rows}
    return _months(first, now, found)


def by_category(session: Session, *, provider_id: int, actor: Actor) -> list[Bucket]:
    _provider(session, provider_id, actor)
    rows = session.execute(
        select(Service.category, func.sum(Payment.amount), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(Service, Service.id == Job.service_id)
        .where(*_provider_received(session, provider_id))
        .group_by(Service.category)
    )
    return _by_amount({category: (int(amount), int(count)) for category, amount, count in rows})


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
        .where(*_provider_received(session, provider_id), Payment.marked_at >= since)
    ).one()
    return Bucket(f"last {days} days", int(amount), int(count))


@dataclass(frozen=True)
class Overview:
    """Everything a provider's earnings page shows, as the four functions above give it."""

    summary: EarningsSummary
    by_month: list[Bucket]
    by_category: list[Bucket]
    last_days: Bucket


def overview(
    session: Session,
    *,
    provider_id: int,
    actor: Actor,
    months: int = 12,
    days: int = 30,
    now: datetime | None = None,
) -> Overview:
    """`summary`, `by_month`, `by_category` and `last_days` at one `now`, equal to calling
    each, from two statements: the summary's, and one pass over the provider's received
    payments (joining a provider's payments to their jobs is most of the cost of each of
    the other three, so they share it)."""
    now = now or utcnow()
    totals = summary(session, provider_id=provider_id, actor=actor)
    first = _window_start(now, months)
    since = now - timedelta(days=days)
    month = period_key(Payment.marked_at, "month", session.get_bind().dialect.name)
    in_window, recent = Payment.marked_at >= first, Payment.marked_at >= since
    rows = session.execute(
        select(
            Service.category,
            month,
            func.sum(Payment.amount),
            func.count(),
            func.sum(Payment.amount).filter(in_window),
            func.count().filter(in_window),
            func.sum(Payment.amount).filter(recent),
            func.count().filter(recent),
        )
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .join(Service, Service.id == Job.service_id)
        .where(*_provider_received(session, provider_id))
        .group_by(Service.category, month)
    )
    categories: dict[str, tuple[int, int]] = {}
    found: dict[str, tuple[int, int]] = {}
    recent_amount = recent_count = 0
    for category, key, amount, count, w_amount, w_count, r_amount, r_count in rows:
        so_far = categories.get(category, (0, 0))
        categories[category] = (so_far[0] + int(amount), so_far[1] + int(count))
        if w_count:
            label = period_label(key)
            so_far = found.get(label, (0, 0))
            found[label] = (so_far[0] + int(w_amount), so_far[1] + int(w_count))
        if r_count:
            recent_amount, recent_count = recent_amount + int(r_amount), recent_count + r_count
    return Overview(
        totals,
        _months(first, now, found),
        _by_amount(categories),
        Bucket(f"last {days} days", recent_amount, int(recent_count)),
    )
