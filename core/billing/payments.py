"""Money in: applying a paid Stripe invoice, or a payment taken by hand, to a payment row.

One function (`apply_invoice_payment`) serves the `invoice.paid` webhook and
reconciliation's repair of a missed one, so both check the same things and credit the
same way; `credit_payment` is the exactly-once credit underneath, also used for cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import audit
from core.billing.customers import known_stripe_customer
from core.billing.invoice_copies import lock_job
from core.billing.stripe_objects import InvoiceInfo
from core.db.models import Job, Payment, Service, ServiceProvider
from core.notify import notifications


@dataclass(frozen=True)
class Outcome:
    """What handling did: `applied`, `duplicate`, `orphan`, `amount_mismatch`, ..."""

    outcome: str
    detail: str | None = None


def refusal(session: Session, *, invoice: InvoiceInfo, job: Job, currency: str) -> str | None:
    """Why an invoice must not touch this job's money or customer, or None when it may.

    Metadata is a hint anyone with access to the Stripe account can edit; the invoice's
    customer and currency are checked against our own records before anything moves.
    """
    return mismatch(
        invoice,
        job_id=job.id,
        customer=known_stripe_customer(session, job.customer_id),
        currency=currency,
    )


def mismatch(
    invoice: InvoiceInfo, *, job_id: int, customer: str | None, currency: str
) -> str | None:
    """`refusal` on facts already read: the job customer's Stripe customer (None when we
    never invoiced them) and our currency."""
    if invoice.currency != currency:
        return f"the invoice is in {invoice.currency.upper()}; this system bills {currency.upper()}"
    if customer is None:
        return f"job #{job_id}'s customer was never invoiced through this system"
    if invoice.customer != customer:
        return (
            f"the invoice belongs to Stripe customer {invoice.customer}, "
            f"not to job #{job_id}'s customer ({customer})"
        )
    return None


def apply_invoice_payment(
    session: Session,
    *,
    job: Job,
    payment: Payment,
    invoice: InvoiceInfo,
    paid_at: datetime,
    currency: str,
    audit_entry: dict[str, Any] | None = None,
) -> Outcome:
    """Credit the payment that a paid invoice settles: once, and only if it adds up (the
    invoice is the job customer's, in our currency, for the payment's amount, and the job
    was completed and not cancelled).

    `audit_entry` (actor, action, reason, ...) is written in this transaction when the
    credit is made, so the credit and its record stand or fall together.
    """
    if payment.status == "received":
        return Outcome("already_applied")
    refused = refusal(session, invoice=invoice, job=job, currency=currency)
    if refused is not None:
        return Outcome("rejected", refused)
    if job.status == "cancelled":
        return Outcome("job_cancelled", f"job #{job.id} was cancelled but its invoice was paid")
    if job.status != "completed":
        return Outcome("rejected", f"job #{job.id} is {job.status}: it was never completed")
    if invoice.amount_paid != payment.amount:
        # Never credit an amount we did not bill; an admin reconciles this by hand.
        return Outcome(
            "amount_mismatch",
            f"Stripe received {invoice.amount_paid} cents; payment #{payment.id} is for "
            f"{payment.amount} cents",
        )
    # A cash or cheque payment is credited by the admin action (method manual) before
    # Stripe is told, so the invoice.paid that follows finds it received already.
    if not credit_payment(
        session, job, payment, paid_at=paid_at, method="stripe", currency=invoice.currency
    ):
        return Outcome("already_applied")  # a concurrent copy won the race
    if audit_entry is not None:
        audit.record(session, job_id=job.id, **audit_entry)
    return Outcome("applied")


def credit_payment(
    session: Session,
    job: Job,
    payment: Payment,
    *,
    paid_at: datetime,
    method: str,
    currency: str = "usd",
) -> bool:
    """Payment received, job paid, provider credited, both sides told: exactly once.

    The conditional update on the payment decides who wins a race; False means another
    transaction (a duplicate delivery, a reconciliation) already credited it.
    """
    lock_job(session, job.id)
    received = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == "pending")
        .values(status="received", method=method, marked_at=paid_at)
    )
    if getattr(received, "rowcount", 0) != 1:
        return False
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(("new", "completed")))
        .values(status="paid", paid_at=paid_at)
    )
    session.execute(
        update(ServiceProvider)
        .where(ServiceProvider.id == job.provider_id)
        .values(
            earnings=ServiceProvider.earnings + payment.amount,
            total_jobs=ServiceProvider.total_jobs + 1,
        )
    )
    service_name = service_name_of(session, job)
    title, body = notifications.payment_confirmed(payment.amount, currency, service_name)
    notifications.notify(
        session,
        recipient_kind="customer",
        recipient_id=job.customer_id,
        kind="payment_confirmed",
        title=title,
        body=body,
        job_id=job.id,
    )
    title, body = notifications.payment_received(payment.amount, currency, job.id)
    notifications.notify(
        session,
        recipient_kind="provider",
        recipient_id=job.provider_id,
        kind="payment_received",
        title=title,
        body=body,
        job_id=job.id,
    )
    return True


def service_name_of(session: Session, job: Job) -> str:
    service = session.get(Service, job.service_id)
    return service.name if service else "your service"
