"""What just happened that the signed-in person should hear about while a page is open.

A provider hears of payments received for their jobs, payments that failed on them, and
money moving back on them (refunds, and each step of a dispute: what they are told in
their notifications); admins hear of failures (failed payments, webhook events that need
a person, failed invoicing) and of disputes opened, which need an answer. Each item has
a stable key, so a page that asks every few seconds over an overlapping window tells each
one once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.billing.webhook_activity import PROBLEM_OUTCOMES
from core.db.models import AuditLog, Job, Notification, Payment, StripeDispute, StripeEvent
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.notify import money_back_facts, notifications

Kind = Literal[
    "paid",
    "payment_failed",
    "webhook_problem",
    "invoicing_failed",
    "refund",
    "dispute_opened",
    "dispute_won",
    "dispute_lost",
    "dispute_needs_response",
]
# The provider's money-back notifications, by the feed's kind of each.
_TOLD_PROVIDER: dict[str, Kind] = {
    money_back_facts.REFUND_TO_PROVIDER: "refund",
    money_back_facts.DISPUTE_KINDS["opened"]: "dispute_opened",
    money_back_facts.DISPUTE_KINDS["won"]: "dispute_won",
    money_back_facts.DISPUTE_KINDS["lost"]: "dispute_lost",
}
PAYMENT_FAILED = "invoice.payment_failed"
CUSTOMER_TOLD = "customer_notified"  # the outcome core.billing.webhook_handlers records
# Failed invoicing is looked for among this many newest audit entries (read from the
# primary key backwards, so the cost stays the same however long the log grows).
AUDIT_TAIL = 200


@dataclass(frozen=True)
class FeedItem:
    key: str  # unique across kinds, stable between reads
    kind: Kind
    job_id: int | None
    amount: int | None  # cents, when known
    at: datetime
    detail: str | None = None  # Stripe's or the system's words, to be shown as text
    due: date | None = None  # a dispute's: when our answer is due, when Stripe says


@dataclass(frozen=True)
class Feed:
    items: list[FeedItem]  # oldest first
    unread: int | None  # a provider's unread notifications; None for other roles


def _payments_received(session: Session, provider_id: int, since: datetime) -> list[FeedItem]:
    rows = session.execute(
        select(Payment.id, Job.id, Payment.amount, Payment.marked_at)
        .select_from(Payment)
        .join(Job, Job.id == Payment.job_id)
        .where(
            Payment.status == "received",
            Payment.marked_at >= since,
            Job.provider_id == provider_id,
        )
    )
    return [
        FeedItem(f"payment:{pid}", "paid", job_id, int(amount), at)
        for pid, job_id, amount, at in rows
        if at is not None  # received payments always carry when
    ]


def _events(session: Session, since: datetime, provider_id: int | None) -> list[FeedItem]:
    """Failed payments (a provider's own, or all), and for admins every event that needs
    a person."""
    query = select(
        StripeEvent.id,
        StripeEvent.outcome,
        StripeEvent.job_id,
        StripeEvent.received_at,
        StripeEvent.error,
        StripeEvent.detail,
    ).where(StripeEvent.received_at >= since)
    if provider_id is not None:
        # Only a failure the handler took in as the job's (its customer was told to retry):
        # an event our checks refused, or one for a job already paid, is not the provider's.
        query = query.join(Job, Job.id == StripeEvent.job_id).where(
            Job.provider_id == provider_id,
            StripeEvent.type == PAYMENT_FAILED,
            StripeEvent.outcome == CUSTOMER_TOLD,
        )
    else:
        query = query.where(
            or_(StripeEvent.type == PAYMENT_FAILED, StripeEvent.outcome.in_(PROBLEM_OUTCOMES))
        )
    items = []
    for event_id, outcome, job_id, at, error, detail in session.execute(query):
        problem = outcome in PROBLEM_OUTCOMES
        kind: Kind = "webhook_problem" if problem else "payment_failed"
        words = (error or detail or outcome) if problem else None
        items.append(FeedItem(f"event:{event_id}", kind, job_id, None, at, words))
    return items


def _money_back_told(session: Session, provider_id: int, since: datetime) -> list[FeedItem]:
    """The provider's refund and dispute notifications: one item each, as they were told
    (read through the recipient's index), with the refund's or dispute's amount."""
    rows = session.execute(
        select(Notification.id, Notification.kind, Notification.job_id, Notification.created_at)
        .where(
            Notification.recipient_kind == "provider",
            Notification.recipient_id == provider_id,
            Notification.created_at >= since,
            Notification.kind.in_(list(_TOLD_PROVIDER)),
        )
        .order_by(Notification.id)
    ).all()
    items = []
    for note_id, kind, job_id, at in rows:
        told = money_back_facts.told(session, kind, job_id, at) if job_id is not None else None
        amount = told.amount if told is not None else None
        due = told.evidence_due if told is not None else None
        items.append(
            FeedItem(f"notification:{note_id}", _TOLD_PROVIDER[kind], job_id, amount, at, due=due)
        )
    return items


def _disputes_opened(session: Session, since: datetime) -> list[FeedItem]:
    """Disputes first heard of in the window: each needs an answer before its due date.
    (Disputes are rare, so their table is small enough to read without an index on when
    they were recorded.)"""
    rows = session.execute(
        select(
            StripeDispute.dispute_id,
            StripeDispute.job_id,
            StripeDispute.amount,
            StripeDispute.recorded_at,
            StripeDispute.evidence_due_by,
        ).where(StripeDispute.recorded_at >= since)
    )
    return [
        FeedItem(
            f"dispute:{dispute_id}",
            "dispute_needs_response",
            job_id,
            int(amount),
            at,
            due=due.date() if due is not None else None,
        )
        for dispute_id, job_id, amount, at, due in rows
    ]


def _invoicing_failures(session: Session, since: datetime) -> list[FeedItem]:
    tail = select(AuditLog.id).order_by(AuditLog.id.desc()).limit(AUDIT_TAIL).subquery()
    rows = session.execute(
        select(AuditLog.id, AuditLog.job_id, AuditLog.created_at, AuditLog.error).where(
            AuditLog.id.in_(select(tail.c.id)),
            AuditLog.action == "invoice.send",
            AuditLog.result == "failed",
            AuditLog.created_at >= since,
        )
    )
    return [
        FeedItem(f"audit:{entry_id}", "invoicing_failed", job_id, None, at, error)
        for entry_id, job_id, at, error in rows
    ]


def recent(session: Session, *, actor: Actor, since: datetime) -> Feed:
    """What the actor should hear about that happened since `since`."""
    items: list[FeedItem] = []
    unread = None
    if actor.role == "provider" and actor.id is not None:
        items += _payments_received(session, actor.id, since)
        items += _events(session, since, actor.id)
        items += _money_back_told(session, actor.id, since)
        unread = notifications.unread_count(
            session, recipient_kind="provider", recipient_id=actor.id
        )
    elif allowed(actor, "webhooks.read"):
        items += _events(session, since, None)
        items += _invoicing_failures(session, since)
        items += _disputes_opened(session, since)
    items.sort(key=lambda item: (item.at, item.key))
    return Feed(items, unread)
