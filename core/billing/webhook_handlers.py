"""What each Stripe invoice event does to our data, registered per event type.

A handler gets the event, its invoice already validated (core.billing.event_schema) and
the job and payment its metadata names, already cross-checked against our records
(`core.billing.payments.refusal`). It runs inside the transaction that claimed the event,
which holds the job's row lock (taken when the target was read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.billing.money_back_events import MONEY_BACK_EVENT_TYPES
from core.billing.payments import Outcome, apply_invoice_payment
from core.billing.stripe_objects import EventInfo, InvoiceInfo
from core.notify import notifications

# Every invoice event Stripe may send us; handlers can only be registered for these.
INVOICE_EVENT_TYPES = frozenset(
    {
        "invoice.created",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.sent",
        "invoice.updated",
        "invoice.voided",
    }
)


@dataclass(frozen=True)
class JobRow:
    """What handlers read of a job (core.billing.payments.JobFacts)."""

    id: int
    status: str
    customer_id: int
    provider_id: int
    service_id: int


@dataclass(frozen=True)
class PaymentRow:
    """What handlers read of a payment (core.billing.payments.PaymentFacts)."""

    id: int
    status: str
    amount: int


@dataclass(frozen=True)
class Target:
    """The job and payment an event's metadata points at, read together (and locked, the
    job first) with the job customer's Stripe customer from our records (None when we
    never invoiced them) and the service's name, for the notifications' text."""

    job: JobRow
    payment: PaymentRow
    stripe_customer: str | None
    service_name: str
    money_back: bool = False  # a refund or dispute of the job is recorded


Handler = Callable[[Session, EventInfo, InvoiceInfo, Target], Outcome]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            # Fails at import time, not at 3 a.m.: a typo here is a handler never called.
            if event_type not in INVOICE_EVENT_TYPES:
                raise ValueError(f"{event_type} is not an invoice event type")
            HANDLERS[event_type] = handler
        return handler

    return register


def subscribed_event_types() -> list[str]:
    """The types the webhook endpoint subscribes to: exactly those with a handler."""
    return sorted(set(HANDLERS) | set(MONEY_BACK_EVENT_TYPES))


def _tell_customer(session: Session, target: Target, kind: str, message: tuple[str, str]) -> None:
    title, body = message
    notifications.notify_all(
        session,
        [notifications.Note("customer", target.job.customer_id, kind, title, body, target.job.id)],
    )


@handles("invoice.paid", "invoice.payment_succeeded")
def apply_payment(
    session: Session, event: EventInfo, invoice: InvoiceInfo, target: Target
) -> Outcome:
    """Payment received, job paid, provider credited, both sides told; once per payment."""
    return apply_invoice_payment(
        session,
        job=target.job,
        payment=target.payment,
        invoice=invoice,
        paid_at=invoice.paid_at or event.created,
        currency=invoice.currency,  # intake refused any other currency than ours
        known_customer=target.stripe_customer,
        service_name=target.service_name,
        job_locked=True,
        money_back=target.money_back,
    )


@handles("invoice.payment_failed")
def tell_customer_to_retry(
    session: Session, event: EventInfo, invoice: InvoiceInfo, target: Target
) -> Outcome:
    """The payment stays pending; the customer gets the link to try again."""
    if target.payment.status != "pending":
        return Outcome("ignored_already_paid")
    if target.job.status == "cancelled":  # nothing is owed: do not ask for it
        return Outcome("ignored_job_cancelled")
    failed = notifications.payment_failed(
        invoice.amount_remaining or target.payment.amount,
        invoice.currency,
        target.service_name,
        invoice.hosted_invoice_url,
    )
    _tell_customer(session, target, "payment_failed", failed)
    return Outcome("customer_notified")


@handles("invoice.sent")
def tell_customer_invoice_waits(
    session: Session, event: EventInfo, invoice: InvoiceInfo, target: Target
) -> Outcome:
    if target.payment.status != "pending":
        return Outcome("ignored_already_paid")
    if target.job.status == "cancelled":
        return Outcome("ignored_job_cancelled")
    waiting = notifications.invoice_waiting(
        invoice.amount_due or target.payment.amount,
        invoice.currency,
        target.service_name,
        invoice.due_date,
        invoice.hosted_invoice_url,
    )
    _tell_customer(session, target, "invoice_sent", waiting)
    return Outcome("customer_notified")


@handles("invoice.finalized", "invoice.voided", "invoice.marked_uncollectible")
def record_for_timeline(
    session: Session, event: EventInfo, invoice: InvoiceInfo, target: Target
) -> Outcome:
    """Nothing to change; the event row itself is the job's timeline entry."""
    return Outcome("recorded")
