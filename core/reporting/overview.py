"""The figures of the dashboard's home pages: one function per page, counted in SQL.

`marketplace` is the admins' and finance staff's overview; `provider_home` a provider's.
Overdue is the one rule of core.billing.invoice_status, over the job's current invoice, as
the job list's overdue filter applies it, so a tile's count is the length of its list.

The marketplace's money collected is net, as the payments report has it
(core.reporting.reports): payments received less the refunds and lost disputes of each
month, refunds dated by the refund and disputes by their closing; what open disputes hold
is shown apart. A provider's home shows what their payments brought in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.billing.drift_checks import DriftCheck, last_check
from core.billing.invoice_status import overdue_condition
from core.billing.money_back import DISPUTE_OPEN
from core.billing.webhook_activity import PROBLEM_OUTCOMES, EmailTrouble, email_trouble
from core.db.models import (
    AuditLog,
    Customer,
    Job,
    Payment,
    Service,
    StripeDispute,
    StripeEvent,
    StripeInvoice,
    utcnow,
)
from core.identity.actor import Actor
from core.identity.permissions import allowed, require, require_provider_scope
from core.reporting.earnings import Bucket
from core.reporting.periods import period_key, period_label
from core.reporting.reports import money_back_rows

CHART_MONTHS = 12
FAILED_SHOWN = 5  # job numbers listed on the failed-invoicing tile
RECENT_PAYMENTS = 5


@dataclass(frozen=True)
class Figure:
    amount: int  # cents
    count: int


@dataclass(frozen=True)
class WebhookHealth:
    # The last event's time is the health reading's (core.observability.health), which
    # the overview shows beside these figures.
    needing_attention: int  # events with an outcome that needs a person


@dataclass(frozen=True)
class MoneyBack:
    """Money that moved back in a time: refunds (count: refunds) and lost disputes."""

    refunded: Figure
    disputes_lost: Figure

    @property
    def amount(self) -> int:
        return self.refunded.amount + self.disputes_lost.amount


NO_MONEY_BACK = MoneyBack(Figure(0, 0), Figure(0, 0))


@dataclass(frozen=True)
class MarketplaceOverview:
    now: datetime
    # Collected (net: received less refunds and lost disputes; count: payments received)
    # since the first of this month, in the whole of last month, and last month up to this
    # moment's day and time.
    this_month: Figure
    last_month: Figure
    last_month_so_far: Figure
    received_this_month: Figure  # the payments received this month (gross)
    back_this_month: MoneyBack  # refunds made and disputes lost this month
    held_in_disputes: Figure  # what disputes open now hold (count: disputes)
    outstanding: Figure  # completed jobs not paid yet
    overdue: Figure
    failed_invoicing: Figure  # completed jobs whose last invoicing attempt failed
    failed_job_ids: tuple[int, ...]  # the newest failures first, up to FAILED_SHOWN
    by_month: list[Bucket]  # collected (net) per month, CHART_MONTHS of them, oldest first
    webhooks: WebhookHealth | None  # None for roles that may not read webhook activity
    drift: DriftCheck | None  # the last reconciliation check, if one ran and may be read
    emails: EmailTrouble | None = None  # None for roles that may not manage the outbox


@dataclass(frozen=True)
class RecentPayment:
    job_id: int
    customer: str
    service: str
    amount: int
    received_at: datetime


@dataclass(frozen=True)
class ProviderHome:
    now: datetime
    this_month: Figure
    last_month: Figure
    last_month_so_far: Figure
    awaiting_payment: Figure  # completed jobs not paid yet
    overdue: Figure
    recent_payments: list[RecentPayment]  # newest first
    by_month: list[Bucket]


def month_start(moment: datetime, back: int = 0) -> datetime:
    """Midnight on the first of the month `back` months before `moment`'s."""
    index = moment.year * 12 + moment.month - 1 - back
    return moment.replace(
        year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
    )


def _collected_by_month(
    session: Session, now: datetime, *scope: ColumnElement[bool]
) -> list[Bucket]:
    """Received payments per calendar month (by the day they were received), the last
    CHART_MONTHS months with empty ones at zero."""
    first = month_start(now, CHART_MONTHS - 1)
    month = period_key(Payment.marked_at, "month", session.get_bind().dialect.name)
    rows = session.execute(
        select(month, func.sum(Payment.amount), func.count())
        .select_from(Payment)
        .join(Job, Job.id == Payment.job_id)
        .where(*scope, Payment.status == "received", Payment.marked_at >= first)
        .group_by(month)
    )
    found = {period_label(key): (int(amount), int(count)) for key, amount, count in rows}
    months = [month_start(now, back) for back in range(CHART_MONTHS - 1, -1, -1)]
    return [
        Bucket(label, *found.get(label, (0, 0)))
        for label in (m.strftime("%Y-%m-%d") for m in months)
    ]


def _figure(session: Session, query: Any) -> Figure:
    amount, count = session.execute(query).one()
    return Figure(int(amount or 0), int(count))


def _unpaid(*scope: ColumnElement[bool]) -> Any:
    return (
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(*scope, Job.status == "completed", Payment.status == "pending")
    )


def _overdue(now: datetime, *scope: ColumnElement[bool]) -> Any:
    current = and_(StripeInvoice.job_id == Job.id, StripeInvoice.is_current)
    return (
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(StripeInvoice, current)
        .join(Payment, Payment.job_id == Job.id)
        .where(*scope, overdue_condition(StripeInvoice.status, StripeInvoice.due_date, now))
    )


def same_moment_last_month(now: datetime) -> datetime:
    """`now`'s day and time in the month before (its last day when that month is shorter)."""
    start = month_start(now, 1)
    days = (month_start(now) - start).days
    return now.replace(year=start.year, month=start.month, day=min(now.day, days))


def _collected_between(
    session: Session, start: datetime, end: datetime, *scope: ColumnElement[bool]
) -> Figure:
    return _figure(
        session,
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Payment)
        .join(Job, Job.id == Payment.job_id)
        .where(
            *scope,
            Payment.status == "received",
            Payment.marked_at >= start,
            Payment.marked_at < end,
        ),
    )


def _months_figures(by_month: list[Bucket]) -> tuple[Figure, Figure]:
    this, last = by_month[-1], by_month[-2]
    return Figure(this.amount, this.count), Figure(last.amount, last.count)


def _failed_invoicing(session: Session) -> tuple[Figure, tuple[int, ...]]:
    """Completed jobs whose newest `invoice.send` entry in the audit log failed."""
    latest = (
        select(AuditLog.job_id, func.max(AuditLog.id).label("entry_id"))
        .where(AuditLog.action == "invoice.send", AuditLog.job_id.is_not(None))
        .group_by(AuditLog.job_id)
        .subquery()
    )
    rows = session.execute(
        select(Job.id, Payment.amount)
        .select_from(latest)
        .join(AuditLog, AuditLog.id == latest.c.entry_id)
        .join(Job, Job.id == latest.c.job_id)
        .join(Payment, Payment.job_id == Job.id)
        .where(AuditLog.result == "failed", Job.status == "completed")
        .order_by(latest.c.entry_id.desc())
    ).all()
    figure = Figure(sum(int(amount) for _, amount in rows), len(rows))
    return figure, tuple(job_id for job_id, _ in rows[:FAILED_SHOWN])


def _webhook_health(session: Session) -> WebhookHealth:
    attention = session.scalar(
        select(func.count()).where(StripeEvent.outcome.in_(PROBLEM_OUTCOMES))
    )
    return WebhookHealth(int(attention or 0))


def _money_back(
    session: Session, since: datetime, until: datetime | None, by_month: bool
) -> dict[str, MoneyBack]:
    """Refunds and lost disputes from `since` to before `until`, by their own dates: per
    calendar month ('YYYY-MM-01'), or all together (under "all")."""
    dialect = session.get_bind().dialect.name

    def key(at: Any) -> Any:
        return period_key(at, "month", dialect) if by_month else literal("all")

    back = money_back_rows(since, until, key, with_job=False).subquery()
    rows = session.execute(
        select(
            back.c.k,
            func.sum(back.c.refunded),
            func.count().filter(back.c.refunded > 0),
            func.sum(back.c.lost),
            func.count().filter(back.c.lost > 0),
        ).group_by(back.c.k)
    )
    return {
        period_label(k): MoneyBack(
            Figure(int(refunded or 0), int(refunds)), Figure(int(lost or 0), int(disputes))
        )
        for k, refunded, refunds, lost, disputes in rows
    }


def _held_in_disputes(session: Session) -> Figure:
    return _figure(
        session,
        select(func.coalesce(func.sum(StripeDispute.amount), 0), func.count()).where(
            StripeDispute.status.in_(DISPUTE_OPEN)
        ),
    )


def _net(received: Figure, back: MoneyBack) -> Figure:
    return Figure(received.amount - back.amount, received.count)


def marketplace(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> MarketplaceOverview:
    """The overview for admins and finance staff; webhook health and the last drift check
    only for the roles that may read them."""
    require(actor, "reports.read")
    now = now or utcnow()
    received = _collected_by_month(session, now)
    back = _money_back(session, month_start(now, CHART_MONTHS - 1), None, by_month=True)
    by_month = [
        Bucket(m.label, m.amount - back.get(m.label, NO_MONEY_BACK).amount, m.count)
        for m in received
    ]
    this_month, last_month = _months_figures(by_month)
    start, so_far = month_start(now, 1), same_moment_last_month(now)
    failed, failed_ids = _failed_invoicing(session)
    return MarketplaceOverview(
        now=now,
        this_month=this_month,
        last_month=last_month,
        last_month_so_far=_net(
            _collected_between(session, start, so_far),
            _money_back(session, start, so_far, by_month=False).get("all", NO_MONEY_BACK),
        ),
        received_this_month=_months_figures(received)[0],
        back_this_month=back.get(by_month[-1].label, NO_MONEY_BACK),
        held_in_disputes=_held_in_disputes(session),
        outstanding=_figure(session, _unpaid()),
        overdue=_figure(session, _overdue(now)),
        failed_invoicing=failed,
        failed_job_ids=failed_ids,
        by_month=by_month,
        webhooks=_webhook_health(session) if allowed(actor, "webhooks.read") else None,
        drift=last_check(session, actor=actor) if allowed(actor, "reconcile") else None,
        emails=email_trouble(session, actor=actor),
    )


def _recent_payments(session: Session, provider_id: int) -> list[RecentPayment]:
    rows = session.execute(
        select(Job.id, Customer.name, Service.name, Payment.amount, Payment.marked_at)
        .select_from(Payment)
        .join(Job, Job.id == Payment.job_id)
        .join(Customer, Customer.id == Job.customer_id)
        .join(Service, Service.id == Job.service_id)
        .where(
            Job.provider_id == provider_id,
            Payment.status == "received",
            Payment.marked_at.is_not(None),
        )
        .order_by(Payment.marked_at.desc(), Payment.id.desc())
        .limit(RECENT_PAYMENTS)
    )
    return [
        RecentPayment(job_id, customer, service, int(amount), at)
        for job_id, customer, service, amount, at in rows
        if at is not None  # the query asks for received payments with their time
    ]


def provider_home(
    session: Session, *, provider_id: int, actor: Actor, now: datetime | None = None
) -> ProviderHome:
    """A provider's home page: their own figures only (someone else's are "not found")."""
    require_provider_scope(actor, provider_id)
    now = now or utcnow()
    mine = Job.provider_id == provider_id
    by_month = _collected_by_month(session, now, mine)
    this_month, last_month = _months_figures(by_month)
    return ProviderHome(
        now=now,
        this_month=this_month,
        last_month=last_month,
        last_month_so_far=_collected_between(
            session, month_start(now, 1), same_moment_last_month(now), mine
        ),
        awaiting_payment=_figure(session, _unpaid(mine)),
        overdue=_figure(session, _overdue(now, mine)),
        recent_payments=_recent_payments(session, provider_id),
        by_month=by_month,
    )
