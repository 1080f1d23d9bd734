"""A job's timeline: Stripe's whole-second times against our microsecond ones, a stable
order within a second, and plain words throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.audit import record
from core.context import AppContext
from core.db.models import Account, Job, Notification, Payment, StripeEvent
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import load_job
from core.jobs.timeline import job_timeline
from tests.support.factories import Market, job_for

T = datetime(2026, 3, 4, 12, 0, 5, tzinfo=UTC)  # a whole second, as Stripe stamps times
ADMIN = Actor("admin", None)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def event(
    job_id: int, number: int, kind: str, created: datetime, received: datetime, **more: Any
) -> StripeEvent:
    return StripeEvent(
        event_id=f"evt_{job_id}_{number}",
        type=kind,
        created=created,
        received_at=received,
        handled_at=received,
        job_id=job_id,
        object_id=f"in_{job_id}",
        **more,
    )


def whats(ctx: AppContext, job_id: int, actor: Actor = ADMIN) -> list[str]:
    with session_scope(ctx.sessions) as session:
        return [e.what for e in job_timeline(session, job_id=job_id, actor=actor)]


def completed_and_invoiced(ctx: AppContext, market: Market) -> int:
    """Completed at 12:00:05.300 by us; Stripe's `invoice.sent`, stamped 12:00:05, came
    after (we received it at 12:00:05.800)."""
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.created_at = at(-3600)
        job.status = "completed"
        job.completed_at = at(0.3)
        record(session, actor=market.provider, action="job.completed", job_id=job_id)
        session.flush()
        session.add(event(job_id, 1, "invoice.finalized", T, at(0.7), outcome="recorded"))
        session.add(event(job_id, 2, "invoice.sent", T, at(0.8), outcome="customer_notified"))
    return job_id


def test_invoice_sent_comes_after_the_completion_that_caused_it(
    ctx: AppContext, market: Market
) -> None:
    job_id = completed_and_invoiced(ctx, market)
    assert whats(ctx, job_id) == [
        "Job created",
        "Completed",
        "Invoice finalized",
        "Invoice sent to the customer",
    ]


def test_paid_comes_after_the_payment_failure_that_came_first(
    ctx: AppContext, market: Market
) -> None:
    job_id = completed_and_invoiced(ctx, market)
    failed_at, paid_at = T + timedelta(minutes=10), T + timedelta(minutes=10)
    with session_scope(ctx.sessions) as session:
        # A declined card, then a good one, all within one of Stripe's seconds.
        session.add(
            event(
                job_id,
                3,
                "invoice.payment_failed",
                failed_at,
                failed_at + timedelta(seconds=0.2),
                outcome="customer_notified",
            )
        )
        session.add(
            event(
                job_id,
                4,
                "invoice.paid",
                paid_at,
                paid_at + timedelta(seconds=0.6),
                outcome="applied",
            )
        )
        session.add(
            event(
                job_id,
                5,
                "invoice.payment_succeeded",
                paid_at,
                paid_at + timedelta(seconds=0.7),
                outcome="already_applied",
            )
        )
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.paid_at = "paid", paid_at  # the invoice's paid time, Stripe's
        payment = load_job(session, job_id, ADMIN).payment
        payment.status, payment.amount, payment.marked_at = "received", 15000, paid_at
        session.add(
            Notification(
                recipient_kind="provider",
                recipient_id=market.provider_id,
                kind="payment_received",
                title="Payment received",
                body="",
                job_id=job_id,
                created_at=paid_at + timedelta(seconds=0.61),
            )
        )
    assert whats(ctx, job_id)[4:] == [
        "Payment failed",
        "Invoice paid",
        "Paid",
        "Notification",
        "Payment succeeded",
    ]


def test_our_record_of_a_send_follows_what_stripe_did_for_it(
    ctx: AppContext, market: Market
) -> None:
    """The send's audit row is written once Stripe answered (12:00:05.600); the webhooks
    for what Stripe did meanwhile, stamped 12:00:05, arrive after it."""
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.created_at, job.status, job.completed_at = at(-60), "completed", at(0.1)
        sent = record(session, actor=market.provider, action="invoice.send", job_id=job_id)
        sent.created_at = at(0.6)
        session.flush()
        session.add(event(job_id, 1, "invoice.finalized", T, at(0.7), outcome="recorded"))
        session.add(event(job_id, 2, "invoice.sent", T, at(0.8), outcome="customer_notified"))
    assert whats(ctx, job_id) == [
        "Job created",
        "Completed",
        "Invoice finalized",
        "Invoice sent to the customer",
        "Invoice sent",
    ]


def test_the_order_within_a_second_is_stable(ctx: AppContext, market: Market) -> None:
    """Two events stamped the same second and received at the same instant keep the order
    we recorded them in, however the database returns them."""
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.created_at = at(-60)
        for number, kind in ((1, "invoice.voided"), (2, "invoice.finalized"), (3, "invoice.sent")):
            session.add(event(job_id, number, kind, T, at(0.5), outcome="recorded"))
            session.flush()
    expected = [
        "Job created",
        "Invoice voided",
        "Invoice finalized",
        "Invoice sent to the customer",
    ]
    assert whats(ctx, job_id) == expected
    assert whats(ctx, job_id) == expected


@pytest.mark.parametrize("outcome", ["customer_notified", "rejected", None])
def test_entries_are_in_plain_words(ctx: AppContext, market: Market, outcome: str | None) -> None:
    job_id = completed_and_invoiced(ctx, market)
    with session_scope(ctx.sessions) as session:
        admin = Account(username="alex@example.com", display_name="Alex Admin", role="admin")
        session.add(admin)
        session.flush()
        record(
            session,
            actor=Actor("admin", admin.id),
            action="invoice.send",
            job_id=job_id,
            after={"amount_due": 15000, "status": "open"},
        )
        record(
            session,
            actor=Actor("system"),
            action="reconcile.paid_in_stripe",
            job_id=job_id,
            reason="nightly",
            result="failed",
            error="Stripe could not be reached",
        )
        session.add(
            event(
                job_id,
                9,
                "invoice.upcoming",
                T,
                at(0.9),
                outcome=outcome,
                detail="another customer's invoice",
            )
        )
    with session_scope(ctx.sessions) as session:
        entries = job_timeline(session, job_id=job_id, actor=ADMIN)
        completed = next(e for e in entries if e.what == "Completed")
        sent = next(e for e in entries if e.what == "Invoice sent")
        repair = next(e for e in entries if e.what.startswith("Reconciled"))
        updated = next(e for e in entries if e.what == "Stripe: invoice upcoming")
    assert completed.detail == "by Rivera Plumbing"
    assert sent.detail == "$150.00 · by Alex Admin"
    assert repair.what == "Reconciled: paid in stripe — failed"
    assert repair.detail == "Stripe could not be reached · reason: nightly · by the system"
    assert (
        updated.detail
        == {
            "customer_notified": "customer told",
            "rejected": "refused: another customer's invoice",
            None: "received, not handled yet",
        }[outcome]
    )
    for entry in entries:
        text = f"{entry.what} {entry.detail}"
        assert "None" not in text and "_" not in text, text


def test_a_payment_by_hand_says_so_with_its_amount(ctx: AppContext, market: Market) -> None:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.query(Payment).filter_by(job_id=job_id).one()
        assert job is not None
        job.created_at = at(-60)
        job.status, job.completed_at, job.paid_at = "paid", at(0), at(60.25)
        payment.status, payment.amount, payment.method = "received", 9900, "manual"
    with session_scope(ctx.sessions) as session:
        entries = job_timeline(session, job_id=job_id, actor=market.provider)
    assert [(e.what, e.detail) for e in entries][-2:] == [
        ("Completed", ""),
        ("Paid", "$99.00 received by hand"),
    ]
