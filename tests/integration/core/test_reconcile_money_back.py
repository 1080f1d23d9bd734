"""Refunds and disputes whose webhooks were missed: found by the drift report, repaired once
through the webhook's code, and replayed from Stripe's events; against the real sandbox
and the live webhook service.

A webhook is missed for real: every endpoint is deleted from the sandbox, so Stripe's
events reach nobody (they stay in its events list, which replay reads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.reconcile import KINDS, drift_report
from core.billing.repairs import repair, repair_all
from core.billing.replay import replay_events
from core.billing.webhook_activity import activity
from core.billing.webhooks import subscribed_event_types
from core.context import AppContext
from core.db.models import (
    AuditLog,
    JobMoneyBack,
    Notification,
    ServiceProvider,
    StripeDispute,
    StripeEvent,
    StripeInvoicePayment,
    StripeRefund,
    utcnow,
)
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl

REASON = "webhook missed while the endpoint was down"
ADMIN = Actor("admin", 1)


def invoiced(ctx: AppContext, market: Market, price: int) -> tuple[int, str]:
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    return job_id, result.invoice.invoice_id


def paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, price: int, card: str = "visa"
) -> tuple[int, str]:
    """A job invoiced and paid by `card`, whatever endpoint is registered having had its
    events: (job, invoice)."""
    job_id, invoice_id = invoiced(ctx, market, price)
    ctx.gateway.pay_test_invoice(invoice_id, card=card)
    assert sandbox.drain(timeout=20) == 0
    return job_id, invoice_id


def webhooks_off(sandbox: SandboxControl) -> None:
    """From now on Stripe's events reach nobody: what was sent so far is delivered first."""
    assert sandbox.drain(timeout=20) == 0
    for endpoint in sandbox.client.v1.webhook_endpoints.list(params={"limit": 100}).data:
        sandbox.client.v1.webhook_endpoints.delete(endpoint.id)


def webhooks_on(ctx: AppContext, live_service: LiveService) -> None:
    secret = ctx.gateway.replace_webhook_endpoint(
        live_service.webhook_url, subscribed_event_types()
    )
    ctx.settings.stripe_webhook_secret = SecretStr(secret)


def stripe_intent(ctx: AppContext, invoice_id: str) -> str:
    """The PaymentIntent that paid the invoice, as Stripe says."""
    [paid] = ctx.gateway.invoice_payments(invoice_id)
    assert paid.payment_intent_id is not None
    return paid.payment_intent_id


def intent_of(ctx: AppContext, job_id: int) -> str:
    with session_scope(ctx.sessions) as session:
        return session.scalars(
            select(StripeInvoicePayment.payment_intent_id).where(
                StripeInvoicePayment.job_id == job_id
            )
        ).one()


def figures(ctx: AppContext, provider_id: int) -> tuple[int, int]:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert ledger_mismatches(session) == []
        return provider.earnings, provider.total_jobs


def notes(ctx: AppContext, job_id: int) -> Counter[tuple[str, str]]:
    with session_scope(ctx.sessions) as session:
        found = session.scalars(select(Notification).where(Notification.job_id == job_id))
        return Counter((note.recipient_kind, note.kind) for note in found)


def money_state(ctx: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    """Everything money moving back touches, less the times rows were last written."""

    def rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
        return sorted(tuple(row) for row in session.execute(query))

    with session_scope(ctx.sessions) as session:
        return {
            "providers": rows(
                session,
                select(ServiceProvider.id, ServiceProvider.earnings, ServiceProvider.total_jobs),
            ),
            "refunds": rows(
                session,
                select(StripeRefund.refund_id, StripeRefund.status, StripeRefund.applied),
            ),
            "disputes": rows(
                session,
                select(StripeDispute.dispute_id, StripeDispute.status, StripeDispute.applied),
            ),
            "totals": rows(
                session,
                select(
                    JobMoneyBack.job_id,
                    JobMoneyBack.refunded,
                    JobMoneyBack.disputed,
                    JobMoneyBack.dispute_lost,
                    JobMoneyBack.taken_back,
                ),
            ),
            "notes": rows(session, select(Notification.id, Notification.kind)),
            "links": rows(session, select(StripeInvoicePayment.payment_intent_id)),
        }


def event_outcomes(ctx: AppContext, object_id: str) -> list[tuple[str, str | None, int | None]]:
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(StripeEvent.type, StripeEvent.outcome, StripeEvent.job_id).where(
                StripeEvent.object_id == object_id
            )
        )
        return [(kind, outcome, job) for kind, outcome, job in rows]


def audit_results(ctx: AppContext, action: str) -> list[tuple[int | None, str]]:
    with session_scope(ctx.sessions) as session:
        return [
            (entry.job_id, entry.result)
            for entry in session.scalars(select(AuditLog).where(AuditLog.action == action))
        ]


def watch_stripe_calls(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every Stripe call's step, with how many database connections were checked out."""
    seen: list[tuple[str, int]] = []
    original: Callable[[str, Callable[[], Any]], Any] = ctx.gateway._call

    def observed(step: str, operation: Callable[[], Any]) -> Any:
        seen.append((step, ctx.engine.pool.checkedout()))  # type: ignore[attr-defined]
        return original(step, operation)

    monkeypatch.setattr(ctx.gateway, "_call", observed)
    return seen


def late_webhooks(ctx: AppContext, live_service: LiveService, since: Any) -> dict[str, int]:
    """The missed events, handled after all (replay passes them through the handlers)."""
    webhooks_on(ctx, live_service)
    return replay_events(ctx, actor=ADMIN, since=since).outcomes


# Refunds


def test_a_missed_refund_webhook_is_found_and_fixed_by_reconcile(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = utcnow()
    job_id, _ = paid_job(ctx, sandbox, market, 20000)
    assert figures(ctx, market.provider_id) == (20000, 1)
    webhooks_off(sandbox)
    refund = ctx.gateway.refund_payment(
        intent_of(ctx, job_id), amount=5000, idempotency_key=f"t-missed-refund:{job_id}"
    )
    assert figures(ctx, market.provider_id) == (20000, 1)  # nobody heard of it

    seen = watch_stripe_calls(ctx, monkeypatch)
    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id, d.repairable) for d in report.drifts] == [
        ("missed_refund", job_id, True)
    ]
    drift = report.drifts[0]
    assert drift.title == KINDS["missed_refund"]
    assert (drift.ours, drift.stripes) == (
        f"no record of refund {refund.id}",
        f"refund {refund.id} succeeded $50.00",
    )
    assert (report.refunds_read, report.disputes_read) == (1, 0)

    done = repair(ctx, drift, actor=ADMIN, reason=REASON)
    assert done.ok and done.message == f"refund {refund.id} of $50.00 recorded (succeeded)"
    again = repair(ctx, drift, actor=ADMIN, reason=REASON)
    assert again.ok and again.message == f"refund {refund.id} was recorded already"
    assert {"refund_list", "dispute_list"} <= {step for step, _ in seen}
    assert [held for _, held in seen] == [0] * len(seen)  # no transaction across a call

    assert figures(ctx, market.provider_id) == (15000, 1)  # taken off once
    assert notes(ctx, job_id)[("customer", "refund")] == 1
    assert notes(ctx, job_id)[("provider", "refund_recorded")] == 1
    with session_scope(ctx.sessions) as session:
        row = session.get(StripeRefund, refund.id)
        assert row is not None and (row.status, row.applied, row.job_id) == (
            "succeeded",
            5000,
            job_id,
        )
    assert audit_results(ctx, "reconcile.missed_refund") == [(job_id, "ok"), (job_id, "ok")]
    assert drift_report(ctx, actor=ADMIN).drifts == []

    # The webhooks come after all: they change nothing.
    settled = money_state(ctx)
    outcomes = late_webhooks(ctx, live_service, started)
    assert outcomes.get("already_applied") == 1 and "refund_applied" not in outcomes
    assert money_state(ctx) == settled
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_a_refund_of_a_payment_never_linked_is_traced_through_stripe(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    # No endpoint: the payment and the whole refund are missed, so no link is recorded.
    job_id, invoice_id = paid_job(ctx, sandbox, market, 12000)
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(StripeInvoicePayment)).all() == []
    intent = stripe_intent(ctx, invoice_id)
    ctx.gateway.refund_payment(intent, idempotency_key="t-unlinked")

    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [
        ("missed_payment", job_id),
        ("missed_refund", job_id),
    ]
    assert all(r.ok for r in repair_all(ctx, report, actor=ADMIN, reason=REASON))
    # Paid and wholly refunded: nothing earned, the job not counted.
    assert figures(ctx, market.provider_id) == (0, 0)
    assert intent_of(ctx, job_id) == intent  # the link, recorded
    kinds = notes(ctx, job_id)
    assert kinds[("customer", "refund")] == 1 and kinds[("provider", "payment_received")] == 1
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_a_refund_webhook_left_unmatched_is_repaired_and_its_event_settled(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """The endpoint hears everything but `invoice_payment.paid`: the refund's events come
    and cannot be traced to a job (recorded `unmatched`); reconciliation traces them."""
    types = [t for t in subscribed_event_types() if t != "invoice_payment.paid"]
    ctx.settings.stripe_webhook_secret = SecretStr(
        ctx.gateway.replace_webhook_endpoint(live_service.webhook_url, types)
    )
    job_id, invoice_id = paid_job(ctx, sandbox, market, 10000)
    refund = ctx.gateway.refund_payment(stripe_intent(ctx, invoice_id), idempotency_key="t-um")
    assert sandbox.drain(timeout=20) == 0
    assert event_outcomes(ctx, refund.id) == [("refund.created", "unmatched", None)]
    assert figures(ctx, market.provider_id) == (10000, 1)

    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("missed_refund", job_id)]
    assert repair(ctx, report.drifts[0], actor=ADMIN, reason=REASON).ok
    assert figures(ctx, market.provider_id) == (0, 0)
    assert notes(ctx, job_id)[("customer", "refund")] == 1
    # Handled again once the link was recorded: no longer waiting, and on the job.
    assert event_outcomes(ctx, refund.id) == [("refund.created", "already_applied", job_id)]
    with session_scope(ctx.sessions) as session:
        waiting = activity(session, actor=ADMIN).problems
        assert [e for e in waiting if e.object_id == refund.id] == []
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_refunds_and_disputes_of_other_charges_are_not_drift(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """An invoice someone made in Stripe by hand, naming nothing of ours, paid, refunded
    and disputed: not ours to record."""
    paid_job(ctx, sandbox, market, 15000)  # ours, in order (its payment is missed)
    customer = sandbox.client.v1.customers.create(params={"name": "Walk-in"}).id
    assert customer is not None
    for card in ("visa", "dispute"):
        invoice = sandbox.client.v1.invoices.create(
            params={"customer": customer, "collection_method": "send_invoice", "days_until_due": 7}
        )
        assert invoice.id is not None
        sandbox.client.v1.invoice_items.create(
            params={"customer": customer, "invoice": invoice.id, "amount": 3000, "currency": "usd"}
        )
        sandbox.client.v1.invoices.finalize_invoice(invoice.id)
        ctx.gateway.pay_test_invoice(invoice.id, card=card)
        if card == "visa":
            ctx.gateway.refund_payment(stripe_intent(ctx, invoice.id), idempotency_key="t-other")

    report = drift_report(ctx, actor=ADMIN)
    assert (report.refunds_read, report.disputes_read) == (1, 1)
    assert [d.kind for d in report.drifts] == ["missed_payment"]


# Disputes


def test_a_lost_dispute_missed_is_found_and_fixed_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    started = utcnow()
    job_id, _ = paid_job(ctx, sandbox, market, 9000, card="dispute")
    with session_scope(ctx.sessions) as session:
        dispute = session.scalars(select(StripeDispute).where(StripeDispute.job_id == job_id)).one()
        assert dispute.status == "needs_response"
        dispute_id = dispute.dispute_id
    assert figures(ctx, market.provider_id) == (9000, 1)  # held, not taken
    webhooks_off(sandbox)
    ctx.gateway.submit_dispute_evidence(dispute_id, "losing_evidence")

    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("missed_dispute", job_id)]
    drift = report.drifts[0]
    assert drift.title == KINDS["missed_dispute"]
    assert (drift.ours, drift.stripes) == (
        f"dispute {dispute_id} needs_response",
        f"dispute {dispute_id} lost $90.00",
    )
    assert drift.fix == "move it to lost, as the missed dispute webhook would have"
    done = repair(ctx, drift, actor=ADMIN, reason=REASON)
    assert done.ok and done.message == f"dispute {dispute_id} of $90.00 recorded as lost"
    assert repair(ctx, drift, actor=ADMIN, reason=REASON).ok

    assert figures(ctx, market.provider_id) == (0, 0)
    kinds = notes(ctx, job_id)
    assert (kinds[("provider", "dispute_opened")], kinds[("provider", "dispute_lost")]) == (1, 1)
    with session_scope(ctx.sessions) as session:
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and (totals.disputed, totals.dispute_lost) == (0, 9000)
    assert audit_results(ctx, "reconcile.missed_dispute") == [(job_id, "ok"), (job_id, "ok")]
    assert drift_report(ctx, actor=ADMIN).drifts == []

    settled = money_state(ctx)
    outcomes = late_webhooks(ctx, live_service, started)
    assert outcomes.get("already_applied", 0) >= 1 and "dispute_lost" not in outcomes
    assert money_state(ctx) == settled


def test_a_dispute_missed_whole_is_recorded_open_and_held(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    # No endpoint: the payment and the dispute that followed are both missed.
    job_id, _ = paid_job(ctx, sandbox, market, 9000, card="dispute")
    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [
        ("missed_payment", job_id),
        ("missed_dispute", job_id),
    ]
    assert report.drifts[1].fix == "record the dispute, as the missed dispute webhook would have"
    assert all(r.ok for r in repair_all(ctx, report, actor=ADMIN, reason=REASON))
    assert figures(ctx, market.provider_id) == (9000, 1)
    with session_scope(ctx.sessions) as session:
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and totals.disputed == 9000
    assert notes(ctx, job_id)[("provider", "dispute_opened")] == 1
    assert drift_report(ctx, actor=ADMIN).drifts == []


# Replay


def test_replay_applies_a_refund_and_a_dispute_missed_while_down(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    refunded, _ = paid_job(ctx, sandbox, market, 20000)
    disputed, disputed_invoice = invoiced(ctx, market, 9000)
    webhooks_off(sandbox)
    ctx.gateway.refund_payment(intent_of(ctx, refunded), amount=4000, idempotency_key="t-down")
    # Paid and disputed within one request: its events share a second, in Stripe's order.
    ctx.gateway.pay_test_invoice(disputed_invoice, card="dispute")
    assert figures(ctx, market.provider_id) == (20000, 1)

    webhooks_on(ctx, live_service)
    result = replay_events(ctx, actor=ADMIN)
    assert result.outcomes.get("refund_applied") == 1
    assert result.outcomes.get("dispute_needs_response") == 1
    assert result.outcomes.get("applied") == 1  # the disputed job's payment
    assert figures(ctx, market.provider_id) == (16000 + 9000, 2)  # the dispute held
    assert notes(ctx, refunded)[("customer", "refund")] == 1
    assert notes(ctx, disputed)[("provider", "dispute_opened")] == 1
    settled = money_state(ctx)

    again = replay_events(ctx, actor=ADMIN, since=result.since)
    assert set(again.outcomes) == {"duplicate"}
    assert money_state(ctx) == settled
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_events_are_listed_20_types_at_a_time_in_stripes_order(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    started = utcnow()
    paid_job(ctx, sandbox, market, 9000, card="dispute")
    listed = sandbox.client.v1.events.list(params={"limit": 100}).data
    oldest_first = [(e.id, e.type) for e in reversed(listed)]

    # Stripe takes at most 20 types a list: more are asked in two lists, none left out.
    types = [*subscribed_event_types(), "invoice.created", "customer.created"]
    assert len(types) > 20
    before = sandbox.request_counts().get("GET /v1/events", 0)
    found = ctx.gateway.events_since(started, types)
    assert sandbox.request_counts()["GET /v1/events"] - before == 2
    assert sorted((e.id, e.type) for e in found) == sorted(
        (i, t) for i, t in oldest_first if t in types
    )

    # Made in one second, replayed in the order Stripe made them: the payment's link
    # (invoice_payment.paid) before the dispute that follows it.
    subscribed = subscribed_event_types()
    replayed = [(e.id, e.type) for e in ctx.gateway.events_since(started, subscribed)]
    assert replayed == [(i, t) for i, t in oldest_first if t in subscribed]
    kinds = [t for _, t in replayed]
    assert kinds.index("invoice_payment.paid") < kinds.index("charge.dispute.created")
