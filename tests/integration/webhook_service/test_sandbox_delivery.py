"""End to end through the sandbox's own webhook delivery: complete, invoice, pay, deliver.

The sandbox signs and delivers every event to the real webhook service (`live_service`),
at least once, with retries; with chaos on it sends each event twice and out of order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import core.billing.webhooks
from core.billing.stripe_objects import EventInfo
from core.context import AppContext
from core.db.models import Job, Notification, Payment, ServiceProvider, StripeEvent
from core.db.session import session_scope
from core.errors import CardDeclined
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches, received_by_provider
from tests.conftest import LiveService
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl

PAYMENT_KINDS = ("payment_confirmed", "payment_received")
PAYMENT_EVENTS = ("invoice.paid", "invoice.payment_succeeded")


@dataclass(frozen=True)
class Invoiced:
    job_id: int
    price: int
    invoice_id: str


def complete_jobs(ctx: AppContext, prices: list[int]) -> tuple[int, list[Invoiced]]:
    """One provider's jobs, marked complete by the provider, so invoiced in the sandbox."""
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_ids = [new_job(session, customer, provider, service, price=p).id for p in prices]
        provider_id = provider.id
    invoiced = []
    for job_id, price in zip(job_ids, prices, strict=True):
        result = complete_job(ctx, job_id=job_id, actor=Actor("provider", provider_id))
        assert result.error is None and result.invoice is not None
        assert result.invoice.amount_due == price
        invoiced.append(Invoiced(job_id, price, result.invoice.invoice_id))
    return provider_id, invoiced


def notification_kinds(session: Session, job_id: int) -> Counter[tuple[str, str]]:
    notes = session.scalars(select(Notification).where(Notification.job_id == job_id))
    return Counter((note.recipient_kind, note.kind) for note in notes)


def assert_paid_once(session: Session, job: Invoiced) -> None:
    row = session.get(Job, job.job_id)
    payment = session.scalars(select(Payment).where(Payment.job_id == job.job_id)).one()
    assert row is not None and row.status == "paid" and row.paid_at is not None
    assert (payment.status, payment.method, payment.amount) == ("received", "stripe", job.price)
    kinds = notification_kinds(session, job.job_id)
    assert {kind: n for kind, n in kinds.items() if kind[1] in PAYMENT_KINDS} == {
        ("customer", "payment_confirmed"): 1,
        ("provider", "payment_received"): 1,
    }
    outcomes = Counter(
        session.scalars(
            select(StripeEvent.outcome).where(
                StripeEvent.job_id == job.job_id, StripeEvent.type.in_(PAYMENT_EVENTS)
            )
        )
    )
    assert outcomes == Counter({"applied": 1, "already_applied": 1})


def test_duplicated_and_reordered_deliveries_pay_every_job_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    sandbox.chaos(duplicate=1.0, reorder=1.0, max_delay=0.3, seed=1)
    prices = [15000, 8250, 42000, 999, 12345]
    provider_id, jobs = complete_jobs(ctx, prices)

    for job in jobs:
        ctx.gateway.pay_test_invoice(job.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0

    with session_scope(ctx.sessions) as session:
        for job in jobs:
            assert_paid_once(session, job)
            # A sent notice arriving after the payment tells nobody; a duplicate, once.
            assert notification_kinds(session, job.job_id)[("customer", "invoice_sent")] <= 1
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert (provider.earnings, provider.total_jobs) == (sum(prices), len(prices))
        assert received_by_provider(session) == {provider_id: (sum(prices), len(prices))}
        assert ledger_mismatches(session) == []
        handled = dict(session.execute(select(StripeEvent.event_id, StripeEvent.type)).all())

    # The chaos really happened: every event reached the service at least twice.
    accepted = Counter(
        attempt["event"]
        for attempt in sandbox.deliveries()
        if attempt["status"] is not None and 200 <= attempt["status"] < 300
    )
    assert set(accepted) == set(handled)
    assert min(accepted.values()) >= 2
    assert Counter(handled.values())["invoice.paid"] == len(prices)


def test_a_500_from_the_service_is_retried_by_the_sandbox_and_applied_once(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider_id, (job,) = complete_jobs(ctx, [15000])
    assert sandbox.drain() == 0  # invoice.finalized and invoice.sent are in
    dispatch = core.billing.webhooks._dispatch
    failed: list[str] = []

    def database_drops_first_attempts(
        session: Session, event: EventInfo, *rest: Any
    ) -> core.billing.webhooks.Outcome:
        # The database fails the first time each payment event is handled.
        if event.type in PAYMENT_EVENTS and event.id not in failed:
            failed.append(event.id)
            raise OperationalError(
                "UPDATE payments SET status=%(status)s",
                None,
                ConnectionError("server closed the connection unexpectedly"),
            )
        return dispatch(session, event, *rest)

    monkeypatch.setattr(core.billing.webhooks, "_dispatch", database_drops_first_attempts)

    ctx.gateway.pay_test_invoice(job.invoice_id, card="visa")
    assert sandbox.drain() == 0

    assert len(failed) == 2
    attempts: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for attempt in sandbox.deliveries():
        attempts[attempt["event"]].append((attempt["attempt"], attempt["status"]))
    for event_id in failed:
        assert sorted(attempts[event_id]) == [(1, 500), (2, 200)]
    with session_scope(ctx.sessions) as session:
        assert_paid_once(session, job)
        rows = session.scalars(select(StripeEvent).where(StripeEvent.event_id.in_(failed))).all()
        assert [(row.error, row.handled_at is not None) for row in rows] == [(None, True)] * 2
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert (provider.earnings, provider.total_jobs) == (15000, 1)
        assert ledger_mismatches(session) == []


def test_a_declined_card_tells_the_customer_then_a_good_card_pays_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    provider_id, (job,) = complete_jobs(ctx, [15000])

    with pytest.raises(CardDeclined):
        ctx.gateway.pay_test_invoice(job.invoice_id, card="declined")
    assert sandbox.drain() == 0

    with session_scope(ctx.sessions) as session:
        payment = session.scalars(select(Payment).where(Payment.job_id == job.job_id)).one()
        assert payment.status == "pending"
        assert notification_kinds(session, job.job_id) == Counter(
            {("customer", "invoice_sent"): 1, ("customer", "payment_failed"): 1}
        )
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None and provider.earnings == 0

    ctx.gateway.pay_test_invoice(job.invoice_id, card="visa")
    assert sandbox.drain() == 0

    with session_scope(ctx.sessions) as session:
        assert_paid_once(session, job)
        assert notification_kinds(session, job.job_id) == Counter(
            {
                ("customer", "invoice_sent"): 1,
                ("customer", "payment_failed"): 1,
                ("customer", "payment_confirmed"): 1,
                ("provider", "payment_received"): 1,
            }
        )
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert (provider.earnings, provider.total_jobs) == (15000, 1)
        assert ledger_mismatches(session) == []
