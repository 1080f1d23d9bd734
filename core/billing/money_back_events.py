"""What each Stripe event of money moving back does to our data.

Stripe links a refund or a dispute to an invoice only through the payment: a Refund and
a Dispute name a PaymentIntent, the InvoicePayment names the invoice it paid, and our
copy of the invoice names the job. So:

- `invoice_payment.paid` records that link (`stripe_invoice_payments`);
- `refund.*` and `charge.dispute.*` find their job through it, and `credit_note.*` through
  its invoice; metadata naming our job and payment is a hint used only when neither is
  known, and is cross-checked like an invoice's (the payment must be the job's);
- the refund or dispute is recorded, moved forward only, and the job's earnings settled
  (core.billing.money_back), all in the transaction that claimed the event, under the
  job's row lock; people are told once, when a refund is first recorded or a dispute
  opens or closes;
- `charge.refunded` says how much of the charge is refunded in all; it is recorded for
  the timeline (the refund's own event applies it).

An event whose payment we cannot trace yet (it came before `invoice_payment.paid`) is
recorded `unmatched`; recording the link handles it again, in that transaction. One whose
payment never paid an invoice of ours stays `unmatched`; reconciliation traces the rest
through Stripe (core.billing.money_back_drift).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.billing import money_back
from core.billing.event_schema import MalformedObject, metadata_id, when
from core.billing.invoice_copies import lock_job
from core.billing.money_back_schema import (
    ChargeObject,
    CreditNoteObject,
    DisputeObject,
    InvoicePaymentObject,
    RefundObject,
    parse_money_object,
)
from core.billing.payments import Outcome
from core.billing.stripe_objects import EventInfo, event_from_payload
from core.db.models import (
    Job,
    JobMoneyBack,
    Payment,
    Service,
    StripeEvent,
    StripeInvoice,
    utcnow,
)
from core.money import format_cents
from core.notify import money_back_notes

# Each event type handled here, and the kind of object it carries.
MONEY_BACK_EVENT_TYPES: dict[str, str] = {
    "invoice_payment.paid": "invoice_payment",
    "refund.created": "refund",
    "refund.updated": "refund",
    "refund.failed": "refund",
    "charge.refunded": "charge",
    "credit_note.created": "credit_note",
    "credit_note.voided": "credit_note",
    "charge.dispute.created": "dispute",
    "charge.dispute.updated": "dispute",
    "charge.dispute.closed": "dispute",
    "charge.dispute.funds_withdrawn": "dispute",
    "charge.dispute.funds_reinstated": "dispute",
}


@dataclass(frozen=True)
class PaidJob:
    """The job a refund or dispute is about, read under its row lock."""

    id: int
    payment_id: int
    payment_amount: int
    customer_id: int
    provider_id: int
    service_name: str


def handle(session: Session, event: EventInfo, currency: str) -> Outcome:
    """Apply one money-back event (its type is in MONEY_BACK_EVENT_TYPES)."""
    kind = MONEY_BACK_EVENT_TYPES[event.type]
    try:
        obj = parse_money_object(event.object, kind)
    except MalformedObject as error:
        return Outcome("malformed", str(error))
    if obj.currency != currency:
        return Outcome(
            "rejected",
            f"the {kind} is in {obj.currency.upper()}; this system bills {currency.upper()}",
        )
    handler: Callable[[Session, EventInfo, Any], Outcome] = _HANDLERS[kind]
    return handler(session, event, obj)


def paid_job(session: Session, job_id: int, payment_id: int | None = None) -> PaidJob | None:
    """The job (locked first, as every writer of its money does) and its payment; None
    when there is no such job, or `payment_id` is not its payment."""
    if not lock_job(session, job_id):
        return None
    row = session.execute(
        select(Payment.id, Payment.amount, Job.customer_id, Job.provider_id, Service.name)
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(Service, Service.id == Job.service_id)
        .where(Job.id == job_id)
    ).first()
    if row is None or (payment_id is not None and row[0] != payment_id):
        return None
    found_payment, amount, customer_id, provider_id, service = row
    service = service or "your service"
    return PaidJob(job_id, found_payment, amount, customer_id, provider_id, service)


def locked_paid_job(session: Session, job_id: int, payment_id: int | None = None) -> PaidJob | None:
    """The job locked and read as the handlers read it, for a refund made here (an admin's
    refund is applied through `apply_refund` as soon as Stripe answers)."""
    return paid_job(session, job_id, payment_id)


def _by_payment_intent(
    session: Session, payment_intent_id: str | None, metadata: dict[str, str] | None
) -> PaidJob | None:
    """The job a PaymentIntent paid: from our link, else from metadata naming our ids."""
    if payment_intent_id:
        serialize_on_payment(session, payment_intent_id)
        link = money_back.payment_link(session, payment_intent_id)
        if link is not None:
            return paid_job(session, link.job_id, link.payment_id)
    return _by_metadata(session, metadata)


def _by_metadata(session: Session, metadata: dict[str, str] | None) -> PaidJob | None:
    job_id = metadata_id(metadata, "job_id")
    payment_id = metadata_id(metadata, "payment_id")
    if job_id is None or payment_id is None:
        return None
    return paid_job(session, job_id, payment_id)


def _by_invoice(session: Session, invoice_id: str) -> PaidJob | None:
    found = session.execute(
        select(StripeInvoice.job_id, StripeInvoice.payment_id).where(
            StripeInvoice.invoice_id == invoice_id
        )
    ).first()
    if found is None or found[0] is None:
        return None
    return paid_job(session, found[0], found[1])


def _unmatched(kind: str, object_id: str, payment_intent_id: str | None) -> Outcome:
    names = f"payment {payment_intent_id}" if payment_intent_id else "no payment"
    return Outcome(
        "unmatched",
        f"{kind} {object_id} names {names}, which no invoice of ours was paid by (yet); "
        "reconciliation traces it through Stripe",
    )


def _on_invoice_payment(session: Session, event: EventInfo, obj: InvoicePaymentObject) -> Outcome:
    intent = obj.payment_intent_id
    if intent is None:
        return Outcome("recorded")  # paid outside Stripe's payments: nothing can refund it
    serialize_on_payment(session, intent)
    job = _by_invoice(session, obj.invoice_id)
    if job is None:
        return Outcome("orphan", f"invoice {obj.invoice_id} is not one of ours")
    link_payment(
        session,
        payment_intent_id=intent,
        invoice_id=obj.invoice_id,
        job=job,
        amount=obj.amount_paid or 0,
        created=when(obj.created) or event.created,
        currency=obj.currency,
    )
    return Outcome("recorded", job_id=job.id)


def serialize_on_payment(session: Session, payment_intent_id: str) -> None:
    """Queue this transaction behind any other about the same payment (PostgreSQL; SQLite
    has one writer), taken before the job's lock: so an event that finds no link and the
    transaction that records the link cannot miss each other, and none deadlocks another."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(payment_intent_id))))


def link_payment(
    session: Session,
    *,
    payment_intent_id: str,
    invoice_id: str,
    job: PaidJob,
    amount: int,
    created: datetime,
    currency: str,
) -> None:
    """Record which job a payment paid, then handle again the events of that payment that
    came before the link (recorded `unmatched`), and settle the job. The caller holds
    `serialize_on_payment` and the job's lock, in that order."""
    if money_back.link_payment(
        session,
        payment_intent_id=payment_intent_id,
        invoice_id=invoice_id,
        job_id=job.id,
        payment_id=job.payment_id,
        amount=amount,
        created=created,
    ):
        _catch_up(session, payment_intent_id, currency)
    money_back.settle(session, job.id)


def _catch_up(session: Session, payment_intent_id: str, currency: str) -> None:
    waiting = session.execute(
        select(StripeEvent.id, StripeEvent.payload)
        .where(
            StripeEvent.outcome == "unmatched",
            StripeEvent.payload.contains(f'"{payment_intent_id}"', autoescape=True),
        )
        .order_by(StripeEvent.created, StripeEvent.id)
    ).all()
    for row_id, payload in waiting:
        if payload is None:
            continue
        event = event_from_payload(payload)
        if event.object.get("payment_intent") != payment_intent_id:
            continue
        result = handle(session, event, currency)
        session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == row_id)
            .values(outcome=result.outcome, detail=result.detail, job_id=result.job_id)
        )


def _too_much(job: PaidJob, amount: int, claimed: int, currency: str, what: str) -> Outcome:
    return Outcome(
        "amount_mismatch",
        f"{what} of {format_cents(amount, currency)} with {format_cents(claimed, currency)} "
        f"already refunded or disputed would pass payment #{job.payment_id}'s "
        f"{format_cents(job.payment_amount, currency)}",
        job_id=job.id,
    )


def apply_refund(
    session: Session,
    job: PaidJob,
    refund: RefundObject,
    *,
    credit_note_id: str | None = None,
    memo: str | None = None,
    reason: str | None = None,
) -> Outcome:
    """Record a refund of the job's payment, settle, and tell both sides the first time.

    Shared by the refund events, the credit note's and reconciliation's repair."""
    if refund.status in money_back.REFUND_COUNTS:
        claimed = money_back.taken_or_held(session, job.id, besides=refund.id)
        if claimed + refund.amount > job.payment_amount:
            return _too_much(job, refund.amount, claimed, refund.currency, "A refund")
    recorded = money_back.record_refund(
        session,
        refund_id=refund.id,
        job_id=job.id,
        payment_id=job.payment_id,
        amount=refund.amount,
        currency=refund.currency,
        status=refund.status,
        created=when(refund.created) or utcnow(),
        payment_intent_id=refund.payment_intent_id,
        credit_note_id=credit_note_id,
        reason=reason or refund.reason,
        memo=memo,
    )
    money_back.settle(session, job.id)
    if recorded.new and refund.status in money_back.REFUND_COUNTS:
        money_back_notes.refunded(
            session,
            job_id=job.id,
            customer_id=job.customer_id,
            provider_id=job.provider_id,
            amount=refund.amount,
            currency=refund.currency,
            service_name=job.service_name,
            whole=_refunded_in_full(session, job),
            memo=memo,
        )
        return Outcome("refund_applied", job_id=job.id)
    if recorded.changed:
        return Outcome(f"refund_{recorded.status}", job_id=job.id)
    return Outcome("already_applied", job_id=job.id)


def _refunded(session: Session, job_id: int) -> int:
    """Cents refunded on the job so far (refunds not failed or canceled): the total `settle`
    keeps with the rows."""
    totals = session.get(JobMoneyBack, job_id)
    return totals.refunded if totals is not None else 0


def _refunded_in_full(session: Session, job: PaidJob) -> bool:
    return _refunded(session, job.id) >= job.payment_amount


def _on_refund(session: Session, event: EventInfo, obj: RefundObject) -> Outcome:
    job = _by_payment_intent(session, obj.payment_intent_id, obj.metadata)
    if job is None:
        return _unmatched("refund", obj.id, obj.payment_intent_id)
    return apply_refund(session, job, obj)


def _on_credit_note(session: Session, event: EventInfo, obj: CreditNoteObject) -> Outcome:
    job = _by_invoice(session, obj.invoice_id)
    if job is None:
        return Outcome("orphan", f"credit note {obj.id} is for invoice {obj.invoice_id}, not ours")
    if event.type == "credit_note.voided" or not obj.refunds:
        return Outcome("recorded", job_id=job.id)
    outcomes = []
    for refund_id, amount in obj.refunds_made():
        refund = RefundObject(
            id=refund_id,
            object="refund",
            amount=amount,
            currency=obj.currency,
            # The credit note does not say; the refund's own events move it on.
            status="pending",
            created=obj.created,
            reason=None,
        )
        outcomes.append(
            apply_refund(
                session, job, refund, credit_note_id=obj.id, memo=obj.memo, reason=obj.reason
            )
        )
    return next((o for o in outcomes if o.outcome != "already_applied"), outcomes[0])


def _on_charge_refunded(session: Session, event: EventInfo, obj: ChargeObject) -> Outcome:
    job = _by_payment_intent(session, obj.payment_intent_id, obj.metadata)
    if job is None:
        return _unmatched("charge", obj.id, obj.payment_intent_id)
    known = _refunded(session, job.id)
    # Refunds are applied from their own events; this total is for the timeline, and a gap
    # that stays (a refund event missed) is what reconciliation finds and repairs.
    detail = (
        f"Stripe has refunded {format_cents(obj.amount_refunded, obj.currency)} of charge "
        f"{obj.id} in all; {format_cents(known, obj.currency)} recorded here so far"
    )
    return Outcome("recorded", detail, job_id=job.id)


def _on_dispute(session: Session, event: EventInfo, obj: DisputeObject) -> Outcome:
    job = _by_payment_intent(session, obj.payment_intent_id, obj.metadata)
    if job is None:
        return _unmatched("dispute", obj.id, obj.payment_intent_id)
    return apply_dispute(session, job, obj, at=event.created)


def apply_dispute(
    session: Session, job: PaidJob, obj: DisputeObject, *, at: datetime | None = None
) -> Outcome:
    """Record a dispute of the job's payment (or move it on), settle, and tell the provider
    when it opens and when it is won or lost. `at` is when Stripe said so (the event's
    time), taken as the closing time of a closed one; now when not known.

    Shared by the dispute events and reconciliation's repair."""
    at = at or utcnow()
    if obj.status not in ("won", "warning_closed", "prevented"):
        claimed = money_back.taken_or_held(session, job.id, besides=obj.id)
        if claimed + obj.amount > job.payment_amount:
            return _too_much(job, obj.amount, claimed, obj.currency, "A dispute")
    recorded = money_back.record_dispute(
        session,
        dispute_id=obj.id,
        job_id=job.id,
        payment_id=job.payment_id,
        amount=obj.amount,
        currency=obj.currency,
        status=obj.status,
        created=when(obj.created) or at,
        payment_intent_id=obj.payment_intent_id,
        reason=obj.reason,
        evidence_due_by=when(obj.due_by),
        closed_at=at if obj.status in money_back.DISPUTE_CLOSED else None,
    )
    money_back.settle(session, job.id)
    steps = []
    if recorded.new:
        steps.append("opened")
    if recorded.changed and recorded.status in ("won", "lost"):
        steps.append(recorded.status)
    for step in steps:
        money_back_notes.dispute_step(
            session,
            step=step,
            job_id=job.id,
            provider_id=job.provider_id,
            amount=obj.amount,
            currency=obj.currency,
        )
    if recorded.changed:
        return Outcome(f"dispute_{recorded.status}", job_id=job.id)
    return Outcome("already_applied", job_id=job.id)


_HANDLERS: dict[str, Callable[[Session, EventInfo, Any], Outcome]] = {
    "invoice_payment": _on_invoice_payment,
    "refund": _on_refund,
    "credit_note": _on_credit_note,
    "charge": _on_charge_refunded,
    "dispute": _on_dispute,
}
