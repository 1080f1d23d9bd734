"""A provider's money: balance, jobs paid, what is still owed, and how it adds up.

Every figure is computed in SQL from the rows, in cents, scoped to one provider.

Money that moved back (core.billing.money_back) is part of it: the balance is what the
provider keeps, their received payments less refunds and lost disputes, and the summary
shows those apart (refunded, lost to disputes, and held while a dispute is open, which
changes the balance only once lost). The figures by month, by category and of the last
days are net the same way: a payment counts on the day it was received, a refund on its
own date (Stripe's) and a lost dispute on the day it closed, so every month is what the
provider earned in it and all of them add up to the balance. What moved back is read from
its own small tables (stripe_refunds, stripe_disputes, job_money_back), never by another
pass over the payments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.billing.money_back import DISPUTE_OPEN
from core.db.models import (
    Job,
    JobMoneyBack,
    Payment,
    Service,
    ServiceProvider,
    StripeDispute,
    StripeRefund,
    utcnow,
)
from core.errors import NotFound
from core.identity.actor import Actor
from core.identity.permissions import require_provider_scope
from core.jobs.queries import unindexed
from core.reporting.periods import period_key, period_label


@dataclass(frozen=True)
class EarningsSummary:
    provider_id: int
    balance: int  # cents the provider keeps: received, less refunded and lost to disputes
    jobs_paid: int  # received payments not wholly taken back
    outstanding: int  # cents billed for completed jobs not yet paid
    jobs_outstanding: int
    refunded: int = 0  # cents refunds took off earnings, all time
    refunded_this_month: int = 0  # of those, refunds dated this calendar month (UTC)
    dispute_lost: int = 0  # cents lost disputes took off earnings, all time
    held: int = 0  # cents held by open disputes: still in the balance until decided

    @property
    def received(self) -> int:
        """Cents the received payments brought in, before anything moved back."""
        return self.balance + self.refunded + self.dispute_lost


def _provider(session: Session, provider_id: int, actor: Actor) -> ServiceProvider:
    """The provider, if the actor may read its figures; NotFound otherwise."""
    require_provider_scope(actor, provider_id)
    provider = session.get(ServiceProvider, provider_id)
    if provider is None:
        raise NotFound(f"No provider #{provider_id}")
    return provider


def summary(
    session: Session, *, provider_id: int, actor: Actor, now: datetime | None = None
) -> EarningsSummary:
    provider = _provider(session, provider_id, actor)
    now = now or utcnow()
    outstanding, count = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.provider_id == provider_id, Job.status == "completed")
    ).one()
    back = money_back(session, provider_id=provider_id, actor=actor, now=now)
    return EarningsSummary(
        provider_id=provider_id,
        balance=provider.earnings,
        jobs_paid=provider.total_jobs,
        outstanding=int(outstanding),
        jobs_outstanding=int(count),
        refunded=back.refunded,
        refunded_this_month=back.refunded_this_month,
        dispute_lost=back.dispute_lost,
        held=back.held,
    )


def _owned_by(session: Session, provider_id: int) -> ColumnElement[bool]:
    """The job is the provider's, for reads that start from a money-back table: on SQLite
    written `+provider_id`, so that its planner (without statistics) starts from the small
    table and finds each row's job by key, rather than from the index of the provider's
    jobs, which holds every job they ever had."""
    provider = unindexed(Job.provider_id.expression, session.get_bind().dialect.name)
    return provider == provider_id


@dataclass(frozen=True)
class MoneyBack:
    """A provider's money that moved back, in cents (see EarningsSummary)."""

    refunded: int
    refunded_this_month: int
    dispute_lost: int
    held: int

    @property
    def any(self) -> bool:
        return bool(self.refunded or self.dispute_lost or self.held)


def money_back(
    session: Session, *, provider_id: int, actor: Actor, now: datetime | None = None
) -> MoneyBack:
    """What refunds and lost disputes took off the provider's earnings (each row's
    `applied`, so these and the balance add up to what the payments brought in), this
    month's refunds by their own date, and what open disputes hold; from the small
    money-back tables only."""
    require_provider_scope(actor, provider_id)
    month = _window_start(now or utcnow(), 1)
    mine = _owned_by(session, provider_id)
    refunded, this_month = session.execute(
        select(
            func.coalesce(func.sum(StripeRefund.applied), 0),
            func.coalesce(func.sum(StripeRefund.applied).filter(StripeRefund.created >= month), 0),
        )
        .select_from(StripeRefund)
        .join(Job, Job.id == StripeRefund.job_id)
        .where(mine)
    ).one()
    open_ = StripeDispute.status.in_(DISPUTE_OPEN)
    lost, held = session.execute(
        select(
            func.coalesce(func.sum(StripeDispute.applied), 0),
            func.coalesce(func.sum(StripeDispute.amount).filter(open_), 0),
        )
        .select_from(StripeDispute)
        .join(Job, Job.id == StripeDispute.job_id)
        .where(mine)
    ).one()
    return MoneyBack(int(refunded), int(this_month), int(lost), int(held))


@dataclass(frozen=True)
class TakenBack:
    """Cents a refund or a lost dispute took off a provider's earnings, on its date."""

    at: datetime  # the refund's date (Stripe's), or the day the dispute closed
    category: str
    amount: int


def taken_back(session: Session, provider_id: int) -> list[TakenBack]:
    """Every refund and lost dispute that took money off the provider's earnings: a few
    rows from the small money-back tables, joined to their jobs by key."""
    mine = _owned_by(session, provider_id)
    refunds = (
        select(
            StripeRefund.created.label("at"),
            Service.category.label("category"),
            StripeRefund.applied.label("amount"),
        )
        .select_from(StripeRefund)
        .join(Job, Job.id == StripeRefund.job_id)
        .join(Service, Service.id == Job.service_id)
        .where(mine, StripeRefund.applied > 0)
    )
    lost = (
        select(
            func.coalesce(StripeDispute.closed_at, StripeDispute.created).label("at"),
            Service.category.label("category"),
            StripeDispute.applied.label("amount"),
        )
        .select_from(StripeDispute)
        .join(Job, Job.id == StripeDispute.job_id)
        .join(Service, Service.id == Job.service_id)
        .where(mine, StripeDispute.applied > 0)
    )
    return [
        TakenBack(at, category, int(amount))
        for at, category, amount in session.execute(union_all(refunds, lost))
    ]


def _less(found: dict[str, tuple[int, int]], key: str, amount: int) -> None:
    """`amount` off the (amount, count) of `key` in `found` (a key of its own if new)."""
    so_far = found.get(key, (0, 0))
    found[key] = (so_far[0] - amount, so_far[1])


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


def _month_label(moment: datetime) -> str:
    """The month of `moment` as `period_label` gives it ('YYYY-MM-01')."""
    return moment.strftime("%Y-%m-01")


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
    """Net earnings per calendar month: payments received in it (by the day they were
    marked received, and their count), less refunds dated in it and disputes lost in it;
    every month of the window present, empty ones at zero."""
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
    for back in taken_back(session, provider_id):
        if back.at >= first:
            _less(found, _month_label(back.at), back.amount)
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
    totals = {category: (int(amount), int(count)) for category, amount, count in rows}
    for back in taken_back(session, provider_id):
        _less(totals, back.category, back.amount)
    return _by_amount(totals)


def last_days(
    session: Session,
    *,
    provider_id: int,
    actor: Actor,
    days: int = 30,
    now: datetime | None = None,
) -> Bucket:
    """Net earnings of the last `days` days: payments received, less what moved back."""
    _provider(session, provider_id, actor)
    since = (now or utcnow()) - timedelta(days=days)
    amount, count = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(*_provider_received(session, provider_id), Payment.marked_at >= since)
    ).one()
    back = sum(b.amount for b in taken_back(session, provider_id) if b.at >= since)
    return Bucket(f"last {days} days", int(amount) - back, int(count))


@dataclass(frozen=True)
class Overview:
    """Everything a provider's earnings page shows, as the four functions above give it:
    the summary with what moved back apart, and net figures by month, category and days."""

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
    each, from the summary's statements, one pass over the provider's received payments
    (joining a provider's payments to their jobs is most of the cost of each of the other
    three, so they share it) and one read of what moved back."""
    now = now or utcnow()
    totals = summary(session, provider_id=provider_id, actor=actor, now=now)
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
    for back in taken_back(session, provider_id):
        _less(categories, back.category, back.amount)
        if back.at >= first:
            _less(found, _month_label(back.at), back.amount)
        if back.at >= since:
            recent_amount -= back.amount
    return Overview(
        totals,
        _months(first, now, found),
        _by_amount(categories),
        Bucket(f"last {days} days", recent_amount, int(recent_count)),
    )
