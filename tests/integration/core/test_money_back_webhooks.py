"""Money moving back, end to end: a job paid by card in the sandbox, then refunded (by a
credit note, or directly as Stripe's dashboard does) or disputed, with every event
delivered by the sandbox to the real webhook service; earnings, job counts, the job's
records and the notifications checked after each step."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import AppContext
from core.db.models import (
    JobMoneyBack,
    Notification,
    ServiceProvider,
    StripeDispute,
    StripeEvent,
    StripeInvoicePayment,
    StripeRefund,
)
from core.db.session import session_scope
from core.errors import InvalidStripeRequest
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl


def paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, price: int, card: str = "visa"
) -> tuple[int, str]:
    """A job completed, invoiced and paid by `card`, every event delivered: (job, invoice)."""
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", market.provider_id))
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card=card)
    assert sandbox.drain(timeout=20) == 0
    return job_id, result.invoice.invoice_id


def provider_figures(session: Session, provider_id: int) -> tuple[int, int]:
    provider = session.get(ServiceProvider, provider_id)
    assert provider is not None
    return provider.earnings, provider.total_jobs


def kinds(session: Session, job_id: int) -> Counter[tuple[str, str]]:
    notes = session.scalars(select(Notification).where(Notification.job_id == job_id))
    return Counter((note.recipient_kind, note.kind) for note in notes)


def payment_intent_of(session: Session, job_id: int) -> str:
    link = session.scalars(
        select(StripeInvoicePayment).where(StripeInvoicePayment.job_id == job_id)
    ).one()
    return link.payment_intent_id


def test_a_credit_note_refund_takes_it_off_earnings_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    sandbox.chaos(duplicate=1.0, reorder=1.0, max_delay=0.2, seed=3)
    job_id, invoice_id = paid_job(ctx, sandbox, market, 20000)
    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (20000, 1)

    note = ctx.gateway.refund_by_credit_note(
        invoice_id, refund_amount=5000, idempotency_key=f"t-refund:{job_id}", memo="Late arrival"
    )
    assert note.refunds_made() and note.refunds_made()[0][1] == 5000
    assert sandbox.drain(timeout=20) == 0

    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (15000, 1)
        refund = session.scalars(select(StripeRefund).where(StripeRefund.job_id == job_id)).one()
        assert (refund.amount, refund.status, refund.applied) == (5000, "succeeded", 5000)
        assert refund.credit_note_id == note.id and refund.memo == "Late arrival"
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and (totals.refunded, totals.taken_back) == (5000, 5000)
        found = kinds(session, job_id)
        assert found[("customer", "refund")] == 1 and found[("provider", "refund_recorded")] == 1
        # The refund's events are on the job's timeline, found through the payment.
        types = set(session.scalars(select(StripeEvent.type).where(StripeEvent.job_id == job_id)))
        assert {"refund.created", "credit_note.created"} <= types
        assert ledger_mismatches(session) == []


def test_two_direct_refunds_add_up_and_the_whole_refund_takes_the_job_out(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, _ = paid_job(ctx, sandbox, market, 12000)
    with session_scope(ctx.sessions) as session:
        intent = payment_intent_of(session, job_id)

    ctx.gateway.refund_payment(intent, amount=2000, idempotency_key="t-direct-1")
    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (10000, 1)

    ctx.gateway.refund_payment(intent, idempotency_key="t-direct-2")  # all that is left
    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (0, 0)
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and totals.refunded == 12000
        assert kinds(session, job_id)[("customer", "refund")] == 2
        assert ledger_mismatches(session) == []

    # Beyond what is left: Stripe refuses, and nothing changes here.
    with pytest.raises(InvalidStripeRequest):
        ctx.gateway.refund_payment(intent, amount=1, idempotency_key="t-direct-3")
    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (0, 0)


@pytest.mark.parametrize(
    ("evidence", "earnings", "jobs"), [("winning_evidence", 9000, 1), ("losing_evidence", 0, 0)]
)
def test_a_dispute_holds_the_money_then_won_keeps_it_or_lost_takes_it(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    evidence: str,
    earnings: int,
    jobs: int,
) -> None:
    job_id, _ = paid_job(ctx, sandbox, market, 9000, card="dispute")
    with session_scope(ctx.sessions) as session:
        # Open: held, shown apart; earnings unchanged until it is decided.
        assert provider_figures(session, market.provider_id) == (9000, 1)
        dispute = session.scalars(select(StripeDispute).where(StripeDispute.job_id == job_id)).one()
        assert dispute.status == "needs_response" and dispute.applied == 0
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and totals.disputed == 9000
        assert kinds(session, job_id)[("provider", "dispute_opened")] == 1
        dispute_id = dispute.dispute_id

    ctx.gateway.submit_dispute_evidence(dispute_id, evidence)
    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (earnings, jobs)
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and totals.disputed == 0
        assert totals.dispute_lost == (9000 if jobs == 0 else 0)
        step = "dispute_won" if jobs else "dispute_lost"
        assert kinds(session, job_id)[("provider", step)] == 1
        assert ledger_mismatches(session) == []


def test_a_chaos_run_of_refunds_and_disputes_leaves_the_books_exact(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """Every event delivered twice and out of order, concurrently, while money moves both
    ways: earnings end as received minus refunded minus lost disputes."""
    sandbox.chaos(duplicate=1.0, reorder=1.0, max_delay=0.3, seed=11)
    refunded, _ = paid_job(ctx, sandbox, market, 7000)
    lost, _ = paid_job(ctx, sandbox, market, 5000, card="dispute")
    kept, _ = paid_job(ctx, sandbox, market, 3000)
    with session_scope(ctx.sessions) as session:
        intent = payment_intent_of(session, refunded)
        dispute_id = session.scalars(
            select(StripeDispute.dispute_id).where(StripeDispute.job_id == lost)
        ).one()
    ctx.gateway.refund_payment(intent, amount=2500, idempotency_key="chaos-1")
    ctx.gateway.refund_payment(intent, amount=4500, idempotency_key="chaos-2")
    ctx.gateway.submit_dispute_evidence(dispute_id, "losing_evidence")
    assert sandbox.drain(timeout=30) == 0

    with session_scope(ctx.sessions) as session:
        assert provider_figures(session, market.provider_id) == (3000, 1)
        assert ledger_mismatches(session) == []
        assert kinds(session, refunded)[("customer", "refund")] == 2
        assert kinds(session, lost)[("provider", "dispute_lost")] == 1
        assert session.get(JobMoneyBack, kept) is None
        assert not {kind for _, kind in kinds(session, kept)} & {"refund", "dispute_opened"}
        outcomes = set(session.scalars(select(StripeEvent.outcome)))
        assert not {"unmatched", "error", "amount_mismatch"} & outcomes
