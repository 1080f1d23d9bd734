"""The money that moved back on one job, as people read it: its refunds and disputes (the
rows core.billing.money_back records), their totals, and the words for their states.

The job's drawer, its REST view and its timeline all read it from here, so a refund's
status or a dispute's outcome has the same words everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.money_back import DISPUTE_OPEN
from core.db.models import JobMoneyBack, StripeDispute, StripeRefund

# A refund's status (Stripe's word) as people read it; failed and canceled ones took
# nothing off the provider's earnings, or gave back what they had taken.
REFUND_STATUS_TEXT = {
    "pending": "pending",
    "requires_action": "waiting on the customer",
    "succeeded": "refunded",
    "failed": "failed: not taken off earnings",
    "canceled": "canceled: not taken off earnings",
}
# A dispute's status while it is open, and how it ended once closed.
DISPUTE_STATUS_TEXT = {
    "warning_needs_response": "inquiry: evidence needed",
    "warning_under_review": "inquiry: the bank is reviewing the evidence",
    "needs_response": "evidence needed",
    "under_review": "the bank is reviewing the evidence",
    "won": "won",
    "lost": "lost",
    "warning_closed": "inquiry closed",
    "prevented": "prevented",
}
DISPUTE_OUTCOME_TEXT = {
    "won": "won: the money stays with the provider",
    "lost": "lost: the money went back to the customer",
    "warning_closed": "closed without becoming a dispute",
    "prevented": "prevented: no money moved",
}


@dataclass(frozen=True)
class RefundLine:
    refund_id: str
    amount: int  # cents
    currency: str
    status: str  # Stripe's refund status
    reason: str | None  # Stripe's reason code
    memo: str | None  # the person's reason, from the credit note: text, never markup
    created: datetime  # when Stripe made it: the refund's date
    recorded_at: datetime
    credit_note_id: str | None

    @property
    def status_text(self) -> str:
        return REFUND_STATUS_TEXT.get(self.status, plain(self.status))


@dataclass(frozen=True)
class DisputeLine:
    dispute_id: str
    amount: int  # cents
    currency: str
    status: str  # Stripe's dispute status
    reason: str | None  # Stripe's reason code
    created: datetime
    recorded_at: datetime
    evidence_due_by: datetime | None
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in DISPUTE_OPEN

    @property
    def status_text(self) -> str:
        return DISPUTE_STATUS_TEXT.get(self.status, plain(self.status))

    @property
    def outcome(self) -> str | None:
        """How it ended, in words; None while it is open."""
        if self.is_open:
            return None
        return DISPUTE_OUTCOME_TEXT.get(self.status, plain(self.status))


@dataclass(frozen=True)
class JobMoneyBackView:
    refunded: int  # refunds not failed or canceled
    disputed: int  # held by open disputes
    dispute_lost: int
    taken_back: int  # off the provider's earnings now
    refunds: list[RefundLine]  # oldest first
    disputes: list[DisputeLine]  # oldest first


def plain(code: str) -> str:
    """A Stripe code such as `requested_by_customer` as words."""
    return code.replace("_", " ").strip()


def job_money_back(session: Session, job_id: int) -> JobMoneyBackView:
    """The job's refunds, disputes and totals (zeros and empty lists when none); the caller
    has checked that the actor may read the job."""
    totals = session.get(JobMoneyBack, job_id)
    refunds = session.scalars(
        select(StripeRefund)
        .where(StripeRefund.job_id == job_id)
        .order_by(StripeRefund.created, StripeRefund.refund_id)
    )
    disputes = session.scalars(
        select(StripeDispute)
        .where(StripeDispute.job_id == job_id)
        .order_by(StripeDispute.created, StripeDispute.dispute_id)
    )
    return JobMoneyBackView(
        refunded=totals.refunded if totals else 0,
        disputed=totals.disputed if totals else 0,
        dispute_lost=totals.dispute_lost if totals else 0,
        taken_back=totals.taken_back if totals else 0,
        refunds=[
            RefundLine(
                r.refund_id,
                r.amount,
                r.currency,
                r.status,
                r.reason,
                r.memo,
                r.created,
                r.recorded_at,
                r.credit_note_id,
            )
            for r in refunds
        ],
        disputes=[
            DisputeLine(
                d.dispute_id,
                d.amount,
                d.currency,
                d.status,
                d.reason,
                d.created,
                d.recorded_at,
                d.evidence_due_by,
                d.closed_at,
            )
            for d in disputes
        ],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def as_json(view: JobMoneyBackView) -> dict[str, Any]:
    """The view as JSON-ready values (money in cents, times ISO 8601)."""
    return {
        "refunded": view.refunded,
        "disputed": view.disputed,
        "dispute_lost": view.dispute_lost,
        "taken_back": view.taken_back,
        "refunds": [
            {
                "id": r.refund_id,
                "amount": r.amount,
                "currency": r.currency,
                "status": r.status,
                "status_text": r.status_text,
                "reason": r.reason,
                "memo": r.memo,
                "created": _iso(r.created),
                "credit_note_id": r.credit_note_id,
            }
            for r in view.refunds
        ],
        "disputes": [
            {
                "id": d.dispute_id,
                "amount": d.amount,
                "currency": d.currency,
                "status": d.status,
                "status_text": d.status_text,
                "reason": d.reason,
                "created": _iso(d.created),
                "evidence_due_by": _iso(d.evidence_due_by),
                "closed_at": _iso(d.closed_at),
                "outcome": d.outcome,
            }
            for d in view.disputes
        ],
    }
