"""Paid jobs and the money that moved back on them, made directly through core (the
crediting and money-back rules themselves), for tests of what pages show of them.

The webhook flow that makes the same rows end to end is tested in
tests/integration/core/test_money_back_webhooks.py; these builders skip Stripe so that a
page's test can set up a refund or a dispute in milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing import money_back
from core.billing.invoice_copies import lock_job
from core.billing.payments import credit_payment
from core.db.models import Job, Payment, StripeInvoice


def paid_by_card(session: Session, job_id: int, *, paid_at: datetime) -> int:
    """The job completed, invoiced and paid through Stripe at `paid_at` (our copy of its
    paid invoice is current), its provider credited; returns the payment's id."""
    job = session.get(Job, job_id)
    assert job is not None
    payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
    job.status, job.completed_at = "completed", paid_at - timedelta(hours=1)
    payment.amount = job.price
    session.add(
        StripeInvoice(
            invoice_id=f"in_paid_{job_id}",
            job_id=job_id,
            payment_id=payment.id,
            customer="cus_test",
            status="paid",
            status_rank=3,
            number=f"T-{job_id}",
            currency="usd",
            amount_due=job.price,
            amount_paid=job.price,
            amount_remaining=0,
            created=paid_at - timedelta(hours=1),
            due_date=paid_at + timedelta(days=6),
            paid_at=paid_at,
            is_current=True,
        )
    )
    session.flush()
    assert credit_payment(session, job, payment, paid_at=paid_at, method="stripe")
    return payment.id


def refund(
    session: Session,
    job_id: int,
    amount: int,
    *,
    at: datetime,
    refund_id: str | None = None,
    status: str = "succeeded",
    memo: str | None = None,
    reason: str | None = None,
) -> str:
    """A refund of the job's payment recorded and settled, as its webhook would."""
    lock_job(session, job_id)
    payment_id = session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one()
    refund_id = refund_id or f"re_{job_id}_{amount}_{at:%H%M%S}"
    money_back.record_refund(
        session,
        refund_id=refund_id,
        job_id=job_id,
        payment_id=payment_id,
        amount=amount,
        currency="usd",
        status=status,
        created=at,
        credit_note_id=f"cn_{refund_id}" if memo else None,
        reason=reason,
        memo=memo,
    )
    money_back.settle(session, job_id)
    return refund_id


def dispute(
    session: Session,
    job_id: int,
    amount: int,
    *,
    at: datetime,
    status: str = "needs_response",
    dispute_id: str | None = None,
    closed_at: datetime | None = None,
) -> str:
    """A dispute of the job's payment recorded (or moved on) and settled; evidence is due
    a week after `at`."""
    lock_job(session, job_id)
    payment_id = session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one()
    dispute_id = dispute_id or f"dp_{job_id}"
    money_back.record_dispute(
        session,
        dispute_id=dispute_id,
        job_id=job_id,
        payment_id=payment_id,
        amount=amount,
        currency="usd",
        status=status,
        created=at,
        reason="product_not_received",
        evidence_due_by=at + timedelta(days=7),
        closed_at=closed_at,
    )
    money_back.settle(session, job_id)
    return dispute_id
