"""A provider's money: balance, jobs paid, what is still owed, and how it adds up.

Every figure is computed in SQL from the rows, in cents, scoped to one provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db.models import Job, Payment, Service, ServiceProvider, utcnow
from core.errors import NotFound
from core.identity.actor import Actor
from core.identity.permissions import require_provider_scope
from core.reporting.periods import period_start


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
    """Per provider: (sum of received payments in cents, number of them)."""
    rows = session.execute(
        select(Job.provider_id, func.coalesce(func.sum(Payment.amount), 0), func.count())
        .join(Payment, Payment.job_id == Job.id)
        .where(Payment.status == "received")
        .group_by(Job.provider_id)
    )
    return {provider_id: (int(total), int(count)) for provider_id, total, count in rows}


def ledger_mismatches(session: Session) -> list[str]:
    """Providers whose earnings or job count disagree with their received payments.

    Empty when the "money adds up" invariant (docs/architecture.md) holds.
    """
    received = received_by_provider(session)
    problems = []
    for provider in session.scalars(select(ServiceProvider).order_by(ServiceProvider.id)):
        total, count = received.get(provider.id, (0, 0))
        if (provider.earnings, provider.total_jobs) != (total, count):
            problems.append(
                f"provider #{provider.id}: earnings {provider.earnings} / {provider.total_jobs} "
                f"jobs, received payments {total} / {count}"
            )
    return problems


@dataclass(frozen=True)
class Bucket:
    label: str  # a month "2026-11-01", a category, ...
    amount: int  # cents
    count: int


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
