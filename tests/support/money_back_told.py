"""Refunds and disputes recorded and told as the webhook handlers do (record, settle, then
the notifications, in one transaction under the job's lock), straight through core, for
tests of what people are told: e-mails, the live feed, toasts. The same steps through
Stripe's webhooks are tested in tests/integration/core/test_money_back_webhooks.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.billing import money_back
from core.billing.invoice_copies import lock_job
from core.context import AppContext
from core.db.models import Job, JobMoneyBack, Payment, Service, ServiceProvider, utcnow
from core.db.session import session_scope
from core.notify import money_back_notes

PAID_AT = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)


def mark_paid(ctx: AppContext, job_id: int, amount: int) -> None:
    """The job paid by card at PAID_AT and its provider credited, as a paid invoice leaves
    them (without the invoice: what these tests read is the money moved back)."""
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.price, job.status = amount, "paid"
        job.completed_at, job.paid_at = PAID_AT - timedelta(hours=1), PAID_AT
        session.execute(
            update(Payment)
            .where(Payment.job_id == job_id)
            .values(amount=amount, status="received", method="stripe", marked_at=PAID_AT)
        )
        session.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == job.provider_id)
            .values(
                earnings=ServiceProvider.earnings + amount,
                total_jobs=ServiceProvider.total_jobs + 1,
            )
        )


def _job(session: Session, job_id: int) -> tuple[Job, int, str]:
    job = session.get(Job, job_id)
    assert job is not None
    payment_id = session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one()
    service = session.scalars(select(Service.name).where(Service.id == job.service_id)).one()
    return job, payment_id, service


def refund_told(
    ctx: AppContext,
    job_id: int,
    amount: int,
    *,
    refund_id: str,
    memo: str | None = None,
    status: str = "succeeded",
) -> None:
    """A refund recorded and settled, and both sides told of it, in one transaction."""
    with session_scope(ctx.sessions) as session:
        lock_job(session, job_id)
        job, payment_id, service = _job(session, job_id)
        money_back.record_refund(
            session,
            refund_id=refund_id,
            job_id=job_id,
            payment_id=payment_id,
            amount=amount,
            currency="usd",
            status=status,
            created=utcnow(),
            memo=memo,
        )
        money_back.settle(session, job_id)
        totals = session.get(JobMoneyBack, job_id)
        paid = session.scalars(select(Payment.amount).where(Payment.job_id == job_id)).one()
        money_back_notes.refunded(
            session,
            job_id=job_id,
            customer_id=job.customer_id,
            provider_id=job.provider_id,
            amount=amount,
            currency="usd",
            service_name=service,
            whole=totals is not None and totals.refunded >= paid,
            memo=memo,
        )


def dispute_told(
    ctx: AppContext,
    job_id: int,
    amount: int,
    *,
    dispute_id: str,
    status: str = "needs_response",
    evidence_due_by: datetime | None = None,
) -> None:
    """A dispute recorded (opened, or moved on to won or lost) and settled, and the
    provider told of the step, in one transaction."""
    with session_scope(ctx.sessions) as session:
        lock_job(session, job_id)
        job, payment_id, _ = _job(session, job_id)
        recorded = money_back.record_dispute(
            session,
            dispute_id=dispute_id,
            job_id=job_id,
            payment_id=payment_id,
            amount=amount,
            currency="usd",
            status=status,
            created=utcnow(),
            reason="product_not_received",
            evidence_due_by=evidence_due_by,
            closed_at=utcnow() if status in money_back.DISPUTE_CLOSED else None,
        )
        money_back.settle(session, job_id)
        steps = ["opened"] if recorded.new else []
        if recorded.changed and recorded.status in ("won", "lost"):
            steps.append(recorded.status)
        for step in steps:
            money_back_notes.dispute_step(
                session,
                step=step,
                job_id=job_id,
                provider_id=job.provider_id,
                amount=amount,
                currency="usd",
            )
