"""Money that moves back: refunds and disputes recorded once each, and the provider's
earnings settled from them.

The rule, kept in one place (`settle`): a provider's earnings are what their received
payments brought in, minus refunds (every refund not failed or canceled) and minus lost
disputes; an open dispute's amount is held, shown apart, and changes earnings only once
it is lost. A job counts in the provider's job total while it is paid and not wholly
taken back.

Rows only move forward (a refund's status from pending to succeeded, failed or canceled;
a dispute from open to closed), and each row records what it has taken off earnings
(`applied`). `settle` compares what the rows of a job should have taken off with what
they have, and moves the difference, under the job's row lock: so a refund changes
earnings once however often its events arrive, a refund heard of before its payment waits
for it (it is applied when the payment is credited), and no order of events can take
back more, or less, than the rows say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db.models import (
    Job,
    JobMoneyBack,
    Payment,
    ServiceProvider,
    StripeDispute,
    StripeInvoicePayment,
    StripeRefund,
    utcnow,
)
from core.db.session import insert_ignoring_conflict

# Refund statuses whose money is on its way back (or back); failed and canceled are not.
REFUND_COUNTS = ("pending", "requires_action", "succeeded")
REFUND_FINAL = ("succeeded", "failed", "canceled")
DISPUTE_OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
DISPUTE_CLOSED = ("won", "lost", "warning_closed", "prevented")


@dataclass(frozen=True)
class Settled:
    """What settling a job moved: cents off earnings (negative: given back) and jobs."""

    earnings_taken: int
    jobs_taken: int


@dataclass(frozen=True)
class Recorded:
    """What recording a refund or dispute did: `new` (first heard of), `changed` (its status
    moved), or neither (a repeat)."""

    new: bool
    changed: bool
    status: str
    previous_status: str | None


def link_payment(
    session: Session,
    *,
    payment_intent_id: str,
    invoice_id: str,
    job_id: int,
    payment_id: int,
    amount: int,
    created: datetime,
) -> bool:
    """Remember which invoice (and job) a PaymentIntent paid; False when known already."""
    return insert_ignoring_conflict(
        session,
        StripeInvoicePayment,
        {
            "payment_intent_id": payment_intent_id,
            "invoice_id": invoice_id,
            "job_id": job_id,
            "payment_id": payment_id,
            "amount": amount,
            "created": created,
            "recorded_at": utcnow(),
        },
    )


def payment_link(session: Session, payment_intent_id: str) -> StripeInvoicePayment | None:
    return session.get(StripeInvoicePayment, payment_intent_id)


def record_refund(
    session: Session,
    *,
    refund_id: str,
    job_id: int,
    payment_id: int,
    amount: int,
    currency: str,
    status: str,
    created: datetime,
    payment_intent_id: str | None = None,
    credit_note_id: str | None = None,
    reason: str | None = None,
    memo: str | None = None,
) -> Recorded:
    """Record a refund, or move a known one forward; the caller then `settle`s the job.

    What one source knows and another does not (a credit note knows the person's memo, the
    refund its final status) is filled in, never overwritten.
    """
    now = utcnow()
    row = session.get(StripeRefund, refund_id)
    if row is None:
        session.add(
            StripeRefund(
                refund_id=refund_id,
                job_id=job_id,
                payment_id=payment_id,
                payment_intent_id=payment_intent_id,
                credit_note_id=credit_note_id,
                amount=amount,
                currency=currency,
                status=status,
                reason=reason,
                memo=memo,
                created=created,
                applied=0,
                recorded_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return Recorded(new=True, changed=True, status=status, previous_status=None)
    previous = row.status
    moves = previous not in REFUND_FINAL and status != previous
    if moves:
        row.status = status
    row.payment_intent_id = row.payment_intent_id or payment_intent_id
    row.credit_note_id = row.credit_note_id or credit_note_id
    row.reason = row.reason or reason
    row.memo = row.memo or memo
    row.updated_at = now
    session.flush()
    return Recorded(new=False, changed=moves, status=row.status, previous_status=previous)


def record_dispute(
    session: Session,
    *,
    dispute_id: str,
    job_id: int,
    payment_id: int,
    amount: int,
    currency: str,
    status: str,
    created: datetime,
    payment_intent_id: str | None = None,
    reason: str | None = None,
    evidence_due_by: datetime | None = None,
    closed_at: datetime | None = None,
) -> Recorded:
    """Record a dispute, or move a known one forward (open to closed, never back)."""
    now = utcnow()
    row = session.get(StripeDispute, dispute_id)
    if row is None:
        session.add(
            StripeDispute(
                dispute_id=dispute_id,
                job_id=job_id,
                payment_id=payment_id,
                payment_intent_id=payment_intent_id,
                amount=amount,
                currency=currency,
                status=status,
                reason=reason,
                created=created,
                evidence_due_by=evidence_due_by,
                closed_at=closed_at if status in DISPUTE_CLOSED else None,
                applied=0,
                recorded_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return Recorded(new=True, changed=True, status=status, previous_status=None)
    previous = row.status
    moves = previous not in DISPUTE_CLOSED and status != previous
    if moves:
        row.status = status
        if status in DISPUTE_CLOSED:
            row.closed_at = closed_at or now
        # An open dispute's amount is fixed; Stripe moves only its status and evidence.
        row.evidence_due_by = evidence_due_by or row.evidence_due_by
    row.payment_intent_id = row.payment_intent_id or payment_intent_id
    row.updated_at = now
    session.flush()
    return Recorded(new=False, changed=moves, status=row.status, previous_status=previous)


def taken_or_held(session: Session, job_id: int, *, besides: str | None = None) -> int:
    """Cents of the job's payment that refunds (not failed or canceled) and disputes (not
    won) already claim, leaving out the refund or dispute `besides`: what a new one may
    not push past the payment's amount."""
    refunds = select(func.coalesce(func.sum(StripeRefund.amount), 0)).where(
        StripeRefund.job_id == job_id,
        StripeRefund.status.in_(REFUND_COUNTS),
        StripeRefund.refund_id != (besides or ""),
    )
    disputes = select(func.coalesce(func.sum(StripeDispute.amount), 0)).where(
        StripeDispute.job_id == job_id,
        StripeDispute.status.not_in(("won", "warning_closed", "prevented")),
        StripeDispute.dispute_id != (besides or ""),
    )
    return int(session.scalar(refunds) or 0) + int(session.scalar(disputes) or 0)


def settle(session: Session, job_id: int) -> Settled:
    """Make the job's earnings effect match its refund and dispute rows; see the module.

    The caller holds the job's row lock (core.billing.invoice_copies.lock_job), as every
    writer of a job's money does, and calls this after any change to the job's rows or
    to its payment's status.
    """
    facts = session.execute(
        select(Job.provider_id, Payment.status, Payment.amount)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.id == job_id)
    ).first()
    if facts is None:
        return Settled(0, 0)
    provider_id, payment_status, amount = facts
    received = payment_status == "received"
    refunds = list(session.scalars(select(StripeRefund).where(StripeRefund.job_id == job_id)))
    disputes = list(session.scalars(select(StripeDispute).where(StripeDispute.job_id == job_id)))
    before = sum(row.applied for row in refunds) + sum(row.applied for row in disputes)
    after = 0
    for row in sorted(refunds, key=lambda r: (r.created, r.refund_id)):
        counts = received and row.status in REFUND_COUNTS and after + row.amount <= amount
        row.applied = row.amount if counts else 0
        after += row.applied
    for dispute in sorted(disputes, key=lambda d: (d.created, d.dispute_id)):
        lost = received and dispute.status == "lost" and after + dispute.amount <= amount
        dispute.applied = dispute.amount if lost else 0
        after += dispute.applied
    taken = after - before
    # The job counts while its payment is received and not wholly taken back.
    jobs = int(received and before < amount) - int(received and after < amount)
    if taken or jobs:
        session.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == provider_id)
            .values(
                earnings=ServiceProvider.earnings - taken,
                total_jobs=ServiceProvider.total_jobs - jobs,
            )
        )
    _write_totals(session, job_id, refunds, disputes, after)
    session.flush()
    return Settled(taken, jobs)


def _write_totals(
    session: Session,
    job_id: int,
    refunds: list[StripeRefund],
    disputes: list[StripeDispute],
    taken_back: int,
) -> None:
    if not refunds and not disputes:
        return
    totals = session.get(JobMoneyBack, job_id)
    if totals is None:
        totals = JobMoneyBack(job_id=job_id)
        session.add(totals)
    totals.refunded = sum(row.amount for row in refunds if row.status in REFUND_COUNTS)
    totals.disputed = sum(row.amount for row in disputes if row.status in DISPUTE_OPEN)
    totals.dispute_lost = sum(row.amount for row in disputes if row.status == "lost")
    totals.taken_back = taken_back
    totals.updated_at = utcnow()
