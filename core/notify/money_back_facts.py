"""Which refund or dispute a money-back notification tells of, and what its e-mail says
about it, read when the e-mail is sent.

A notification names its job, not the refund or dispute. It needs no more: the handlers
(core.billing.money_back_events) record the refund or dispute and then write the
notification in the same transaction, under the job's row lock, so the one a notification
tells of is the job's last one recorded at or before the notification. Reading the row
(rather than copying figures into the notification's text) gives the e-mail the refund's
own amount, not the payment's, and what was learnt after the notification was written:
a credit note's memo that arrived after the refund's own event, a dispute's evidence date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import JobMoneyBack, Payment, StripeDispute, StripeRefund

REFUND_TO_CUSTOMER = "refund"
REFUND_TO_PROVIDER = "refund_recorded"
REFUND_KINDS = frozenset({REFUND_TO_CUSTOMER, REFUND_TO_PROVIDER})
DISPUTE_KINDS = {"opened": "dispute_opened", "won": "dispute_won", "lost": "dispute_lost"}
MONEY_BACK_KINDS = REFUND_KINDS | frozenset(DISPUTE_KINDS.values())


@dataclass(frozen=True)
class MoneyBack:
    """What a refund or dispute e-mail needs beyond the job."""

    amount: int  # cents: the refund's or the dispute's, never the payment's
    currency: str
    paid: int  # the job's payment
    still_paid: int  # the payment less every refund not failed or canceled, as of now
    reason: str | None = None  # the memo the person who refunded wrote
    evidence_due: date | None = None  # disputes: when the answer is due, when Stripe says


def refund_told(session: Session, job_id: int, at: datetime) -> StripeRefund | None:
    """The refund a notification of `at` tells of (see the module)."""
    return session.scalars(
        select(StripeRefund)
        .where(StripeRefund.job_id == job_id, StripeRefund.recorded_at <= at)
        .order_by(StripeRefund.recorded_at.desc(), StripeRefund.refund_id.desc())
        .limit(1)
    ).first()


def dispute_told(session: Session, job_id: int, at: datetime) -> StripeDispute | None:
    """The dispute a notification of `at` tells of: opened, won or lost, it is the job's
    last one opened by then (a charge is disputed once)."""
    return session.scalars(
        select(StripeDispute)
        .where(StripeDispute.job_id == job_id, StripeDispute.recorded_at <= at)
        .order_by(StripeDispute.recorded_at.desc(), StripeDispute.dispute_id.desc())
        .limit(1)
    ).first()


def paid_and_still_paid(session: Session, job_id: int) -> tuple[int, int]:
    """The job's payment, and what of it the customer has not had back."""
    paid = int(session.scalar(select(Payment.amount).where(Payment.job_id == job_id)) or 0)
    refunded = session.scalar(select(JobMoneyBack.refunded).where(JobMoneyBack.job_id == job_id))
    return paid, max(paid - int(refunded or 0), 0)


def told(session: Session, kind: str, job_id: int, at: datetime) -> MoneyBack | None:
    """What the money-back notification of `kind` written at `at` tells of; None for
    another kind, or when no refund or dispute of the job fits (the e-mail then says the
    notification's own words)."""
    row: StripeRefund | StripeDispute | None
    if kind in REFUND_KINDS:
        row = refund_told(session, job_id, at)
    elif kind in MONEY_BACK_KINDS:
        row = dispute_told(session, job_id, at)
    else:
        return None
    if row is None:
        return None
    paid, still_paid = paid_and_still_paid(session, job_id)
    if isinstance(row, StripeRefund):
        return MoneyBack(row.amount, row.currency, paid, still_paid, reason=row.memo or None)
    due = row.evidence_due_by.date() if row.evidence_due_by is not None else None
    return MoneyBack(row.amount, row.currency, paid, still_paid, evidence_due=due)
