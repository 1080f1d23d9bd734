"""Stripe webhook events, applied exactly once.

Each event id is claimed with an insert into `stripe_events` that does nothing on
conflict, inside the same transaction that applies the change, so a duplicate, a
concurrent copy or a retry after success changes nothing. State only moves forward:
updates are conditional (`... WHERE status = 'pending'`), so a late or reordered event
cannot undo a payment. A database failure rolls everything back, is written on the event
row, and is raised so the caller answers 5xx and Stripe retries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.billing.invoice_copies import remember_invoice
from core.billing.payments import Outcome, apply_invoice_payment, service_name_of
from core.billing.stripe_gateway import API_VERSION, EventInfo, InvoiceInfo
from core.db.models import Job, Payment, StripeEvent, utcnow
from core.db.session import insert_ignoring_conflict, session_scope
from core.notify import notifications

log = logging.getLogger("core.billing.webhooks")

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
class Target:
    """The job and payment an event's metadata points at."""

    job: Job
    payment: Payment


Handler = Callable[[Session, EventInfo, Target], Outcome]
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


# The types the webhook endpoint subscribes to: exactly those with a handler.
def subscribed_event_types() -> list[str]:
    return sorted(HANDLERS)


class WebhookProcessingFailed(Exception):
    """The database failed while applying an event; Stripe should deliver it again."""


@dataclass(frozen=True)
class ProcessedEvent:
    event_id: str
    type: str
    outcome: str
    detail: str | None
    job_id: int | None
    milliseconds: float


def _metadata_ids(obj: dict[str, Any]) -> tuple[int | None, int | None]:
    metadata = obj.get("metadata") or {}

    def number(key: str) -> int | None:
        try:
            return int(metadata[key])
        except (KeyError, TypeError, ValueError):
            return None

    return number("job_id"), number("payment_id")


def _target(session: Session, job_id: int | None, payment_id: int | None) -> Target | None:
    """The job and payment named by metadata, if both exist and belong together."""
    if job_id is None:
        return None
    job = session.get(Job, job_id)
    payment = session.scalar(select(Payment).where(Payment.job_id == job_id))
    if job is None or payment is None:
        return None
    if payment_id is not None and payment.id != payment_id:
        return None
    return Target(job, payment)


def _event_row(
    event: EventInfo, job_id: int | None, payment_id: int | None, **extra: Any
) -> dict[str, Any]:
    """The `stripe_events` row for an event as it arrives."""
    return {
        "event_id": event.id,
        "type": event.type,
        "created": event.created,
        "received_at": utcnow(),
        "object_id": event.object.get("id"),
        "job_id": job_id,
        "payment_id": payment_id,
        **extra,
    }


def _claim(session: Session, event: EventInfo, job_id: int | None, payment_id: int | None) -> bool:
    """Take the event for this transaction; False when it was already handled."""
    inserted = insert_ignoring_conflict(session, StripeEvent, _event_row(event, job_id, payment_id))
    if inserted:
        return True
    # Seen before: handle it again only if every earlier attempt failed.
    retried = session.execute(
        update(StripeEvent)
        .where(StripeEvent.event_id == event.id, StripeEvent.handled_at.is_(None))
        .values(received_at=utcnow())
    )
    return getattr(retried, "rowcount", 0) == 1


def process_event(sessions: sessionmaker[Session], event: EventInfo) -> ProcessedEvent:
    """Apply one verified event exactly once; raises WebhookProcessingFailed to get a retry."""
    started = time.perf_counter()
    job_id, payment_id = _metadata_ids(event.object)
    if event.api_version and event.api_version != API_VERSION:
        log.warning(
            "stripe.webhook.api_version_mismatch event=%s got=%s pinned=%s",
            event.id,
            event.api_version,
            API_VERSION,
        )
    try:
        with session_scope(sessions) as session:
            if not _claim(session, event, job_id, payment_id):
                result = Outcome("duplicate")
            else:
                result = _dispatch(session, event, job_id, payment_id)
                session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.event_id == event.id)
                    .values(
                        handled_at=utcnow(),
                        outcome=result.outcome,
                        detail=result.detail,
                        error=None,
                    )
                )
    except SQLAlchemyError as error:
        _record_failure(sessions, event, job_id, payment_id, error)
        _log(event, "failed", started)
        raise WebhookProcessingFailed(f"database error while handling {event.id}") from error
    milliseconds = _log(event, result.outcome, started)
    return ProcessedEvent(event.id, event.type, result.outcome, result.detail, job_id, milliseconds)


def _dispatch(
    session: Session, event: EventInfo, job_id: int | None, payment_id: int | None
) -> Outcome:
    handler = HANDLERS.get(event.type)
    if handler is None:
        return Outcome("ignored")
    if event.object.get("object") != "invoice":
        return Outcome("rejected", f"the {event.type} event's object is not an invoice")
    try:
        invoice = InvoiceInfo.from_dict(event.object)
    except (KeyError, TypeError, ValueError) as error:
        return Outcome("malformed", f"the invoice in the event lacks {error}")
    if job_id is not None:
        # Stripe e-mails the invoice when `invoice.sent` happens: our record of the send.
        sent_at = event.created if event.type == "invoice.sent" else None
        remember_invoice(session, invoice, sent_at=sent_at)
    target = _target(session, job_id, payment_id)
    if target is None:
        return Outcome(
            "orphan",
            f"metadata job_id={job_id} payment_id={payment_id} names no job and payment of ours",
        )
    return handler(session, event, target)


def _record_failure(
    sessions: sessionmaker[Session],
    event: EventInfo,
    job_id: int | None,
    payment_id: int | None,
    error: Exception,
) -> None:
    """Keep the failure on the event row so the dashboard can show it (best effort)."""
    message = f"{type(error).__name__}: {error}"[:2000]
    try:
        with session_scope(sessions) as session:
            inserted = insert_ignoring_conflict(
                session,
                StripeEvent,
                _event_row(event, job_id, payment_id, outcome="failed", error=message),
            )
            if not inserted:
                session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.event_id == event.id, StripeEvent.handled_at.is_(None))
                    .values(outcome="failed", error=message)
                )
    except SQLAlchemyError:
        log.exception("stripe.webhook.failure_not_recorded event=%s", event.id)


def _log(event: EventInfo, outcome: str, started: float) -> float:
    milliseconds = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        json.dumps(
            {
                "event": "stripe.webhook.processed",
                "id": event.id,
                "type": event.type,
                "outcome": outcome,
                "ms": milliseconds,
            }
        )
    )
    return milliseconds


def _paid_at(event: EventInfo) -> datetime:
    transitions = event.object.get("status_transitions") or {}
    paid_at = transitions.get("paid_at")
    return datetime.fromtimestamp(paid_at, UTC) if paid_at else event.created


def _tell(
    session: Session,
    recipient_kind: str,
    recipient_id: int,
    kind: str,
    message: tuple[str, str],
    job_id: int,
) -> None:
    title, body = message
    notifications.notify(
        session,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        kind=kind,
        title=title,
        body=body,
        job_id=job_id,
    )


@handles("invoice.paid", "invoice.payment_succeeded")
def apply_payment(session: Session, event: EventInfo, target: Target) -> Outcome:
    """Payment received, job paid, provider credited, both sides told; once per payment."""
    return apply_invoice_payment(
        session,
        job=target.job,
        payment=target.payment,
        invoice=InvoiceInfo.from_dict(event.object),
        paid_at=_paid_at(event),
    )


@handles("invoice.payment_failed")
def tell_customer_to_retry(session: Session, event: EventInfo, target: Target) -> Outcome:
    """The payment stays pending; the customer gets the link to try again."""
    if target.payment.status != "pending":
        return Outcome("ignored_already_paid")
    failed = notifications.payment_failed(
        int(event.object.get("amount_remaining") or target.payment.amount),
        str(event.object.get("currency") or "usd"),
        service_name_of(session, target.job),
        event.object.get("hosted_invoice_url"),
    )
    _tell(session, "customer", target.job.customer_id, "payment_failed", failed, target.job.id)
    return Outcome("customer_notified")


@handles("invoice.sent")
def tell_customer_invoice_waits(session: Session, event: EventInfo, target: Target) -> Outcome:
    if target.payment.status != "pending":
        return Outcome("ignored_already_paid")
    due = event.object.get("due_date")
    waiting = notifications.invoice_waiting(
        int(event.object.get("amount_due") or target.payment.amount),
        str(event.object.get("currency") or "usd"),
        service_name_of(session, target.job),
        datetime.fromtimestamp(due, UTC) if due else None,
        event.object.get("hosted_invoice_url"),
    )
    _tell(session, "customer", target.job.customer_id, "invoice_sent", waiting, target.job.id)
    return Outcome("customer_notified")


@handles("invoice.finalized", "invoice.voided", "invoice.marked_uncollectible")
def record_for_timeline(session: Session, event: EventInfo, target: Target) -> Outcome:
    """Nothing to change; the event row itself is the job's timeline entry."""
    return Outcome("recorded")
