"""Refund and dispute events in any order and any number of copies move money once.

Each test makes real history in the sandbox with no webhook endpoint registered, reads
Stripe's events back (`GET /v1/events`), and hands them to the webhook handling in a
chosen order, every one twice; the books must end exactly as the money did, with one
notification per thing that happened.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.billing.stripe_objects import EventInfo
from core.billing.webhooks import process_event, subscribed_event_types
from core.context import AppContext
from core.db.models import JobMoneyBack, Notification, ServiceProvider, StripeEvent, utcnow
from core.db.session import session_scope
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl

MONEY_BACK_KINDS = ("refund", "refund_recorded", "dispute_opened", "dispute_won", "dispute_lost")


def history(ctx: AppContext, market: Market) -> tuple[list[EventInfo], dict[int, int]]:
    """Five paid jobs and what became of them in Stripe; their events, and each job's price."""
    started = utcnow() - timedelta(seconds=5)
    prices = {}
    invoices = {}
    for price, card in (
        (10000, "visa"),
        (8000, "visa"),
        (6000, "dispute"),
        (4000, "dispute"),
        (2500, "visa"),
    ):
        job_id = job_for(ctx, market, price)
        result = complete_job(ctx, job_id=job_id, actor=market.provider)
        assert result.invoice is not None
        ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card=card)
        prices[job_id] = price
        invoices[job_id] = result.invoice.invoice_id
    full, partial, won, lost, untouched = list(prices)
    ctx.gateway.refund_by_credit_note(invoices[full], refund_amount=10000, idempotency_key="o-1")
    intent = ctx.gateway.invoice_payments(invoices[partial])[0].payment_intent_id
    assert intent is not None
    ctx.gateway.refund_payment(intent, amount=3000, idempotency_key="o-2")
    ctx.gateway.refund_payment(intent, amount=1000, idempotency_key="o-3")
    for job_id, evidence in ((won, "winning_evidence"), (lost, "losing_evidence")):
        intent = ctx.gateway.invoice_payments(invoices[job_id])[0].payment_intent_id
        assert intent is not None
        dispute = next(
            d for d in ctx.gateway.disputes_since(started) if d.payment_intent_id == intent
        )
        ctx.gateway.submit_dispute_evidence(dispute.id, evidence)
    return ctx.gateway.events_since(started, subscribed_event_types()), prices


def deliver(ctx: AppContext, events: list[EventInfo]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for event in events:
        outcomes[process_event(ctx.sessions, event, currency="usd").outcome] += 1
    return outcomes


@pytest.mark.parametrize("order", ["as_sent", "reversed", "shuffled"])
def test_any_order_and_every_copy_end_in_the_same_books(
    ctx: AppContext, sandbox: SandboxControl, market: Market, order: str
) -> None:
    events, prices = history(ctx, market)
    assert {"refund.created", "credit_note.created", "charge.dispute.closed"} <= {
        e.type for e in events
    }
    if order == "reversed":
        events = events[::-1]
    elif order == "shuffled":
        events = random.Random(7).sample(events, len(events))
    deliver(ctx, events + events[::-1])

    full, partial, won, lost, untouched = list(prices)
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, market.provider_id)
        assert provider is not None
        # Kept: 0 (refunded) + 4000 (8000 - 3000 - 1000) + 6000 (won) + 0 (lost) + 2500.
        assert (provider.earnings, provider.total_jobs) == (12500, 3)
        assert ledger_mismatches(session) == []
        totals = {row.job_id: row for row in session.scalars(select(JobMoneyBack))}
        assert (totals[full].refunded, totals[partial].refunded) == (10000, 4000)
        assert (totals[won].disputed, totals[won].dispute_lost) == (0, 0)
        assert totals[lost].dispute_lost == 4000
        assert untouched not in totals
        notes = Counter(
            (note.job_id, note.kind)
            for note in session.scalars(
                select(Notification).where(Notification.kind.in_(MONEY_BACK_KINDS))
            )
        )
        assert notes == Counter(
            {
                (full, "refund"): 1,
                (full, "refund_recorded"): 1,
                (partial, "refund"): 2,
                (partial, "refund_recorded"): 2,
                (won, "dispute_opened"): 1,
                (won, "dispute_won"): 1,
                (lost, "dispute_opened"): 1,
                (lost, "dispute_lost"): 1,
            }
        )
        # Nothing waits: every event is handled, none refused or left untraced.
        outcomes = Counter(session.scalars(select(StripeEvent.outcome)))
        assert not {"unmatched", "error", "amount_mismatch", "orphan"} & set(outcomes)
