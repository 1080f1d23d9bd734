"""The seed's testing checklist, one test per line, against the Stripe sandbox.

Each test's name says which checklist line it proves; every one runs on SQLite and on
PostgreSQL (with TEST_DATABASE_URL).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, inspect, select

from core.context import AppContext
from core.db import models
from core.db.models import Job, Notification, Payment, ServiceProvider, StripeEvent
from core.db.session import session_scope
from core.errors import CardDeclined
from core.identity.actor import Actor
from core.jobs.lifecycle import CompletionResult, complete_job, create_job
from stripe_sandbox.webhooks import sign
from tests.conftest import LiveService
from tests.support.factories import marketplace
from tests.support.sandbox import SandboxControl

PRICE = 15000
DAY = 86400
DOMAIN_TABLES = (
    "customers",
    "service_providers",
    "services",
    "jobs",
    "payments",
    "notifications",
)


@dataclass(frozen=True)
class Market:
    customer_id: int
    provider_id: int
    service_id: int

    @property
    def provider(self) -> Actor:
        return Actor("provider", self.provider_id)


@pytest.fixture
def market(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)


def completed_job(ctx: AppContext, market: Market, price: int = PRICE) -> CompletionResult:
    with session_scope(ctx.sessions) as session:
        job_id = create_job(
            session,
            customer_id=market.customer_id,
            provider_id=market.provider_id,
            service_id=market.service_id,
            price=price,
        ).id
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    return result


def invoice_id_of(result: CompletionResult) -> str:
    assert result.invoice is not None
    return result.invoice.invoice_id


def state(ctx: AppContext, job_id: int, provider_id: int) -> tuple[Any, ...]:
    """Everything a payment can change: job, payment, provider totals, notifications."""
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        provider = session.get(ServiceProvider, provider_id)
        notes = session.scalar(select(func.count()).select_from(Notification))
        assert job is not None and provider is not None
        return (
            job.status,
            job.paid_at,
            payment.status,
            payment.method,
            payment.marked_at,
            provider.earnings,
            provider.total_jobs,
            notes,
        )


def stripe_invoice(sandbox: SandboxControl, invoice_id: str) -> dict[str, Any]:
    return sandbox.client.v1.invoices.retrieve(invoice_id).to_dict()


def payment_notes(ctx: AppContext) -> list[tuple[str, int, str, str]]:
    with session_scope(ctx.sessions) as session:
        return [
            (n.recipient_kind, n.recipient_id, n.title, n.body)
            for n in session.scalars(
                select(Notification)
                .where(Notification.kind != "invoice_sent")
                .order_by(Notification.id)
            )
        ]


def test_checklist_job_completion_creates_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    result = completed_job(ctx, market)
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    invoices = [invoice.to_dict() for invoice in listing.auto_paging_iter()]
    assert [invoice["id"] for invoice in invoices] == [invoice_id_of(result)]
    [invoice] = invoices
    assert invoice["metadata"]["job_id"] == str(result.job_id)
    assert invoice["status"] == "open" and invoice["hosted_invoice_url"]
    assert result.invoice is not None and result.invoice.status == "open"


def test_checklist_invoice_has_correct_amount_in_cents(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    result = completed_job(ctx, market, price=12345)  # $123.45: cents survive, no rounding
    invoice = stripe_invoice(sandbox, invoice_id_of(result))
    assert (invoice["amount_due"], invoice["amount_remaining"], invoice["total"]) == (
        12345,
        12345,
        12345,
    )
    [line] = invoice["lines"]["data"]
    assert (line["amount"], line["currency"]) == (12345, "usd")
    assert result.invoice is not None and result.invoice.amount_due == 12345


def test_checklist_invoice_due_in_7_days(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    result = completed_job(ctx, market)
    invoice = stripe_invoice(sandbox, invoice_id_of(result))
    assert invoice["collection_method"] == "send_invoice"
    assert invoice["due_date"] == invoice["status_transitions"]["finalized_at"] + 7 * DAY
    assert result.invoice is not None and result.invoice.due_date is not None
    assert int(result.invoice.due_date.timestamp()) == invoice["due_date"]


def test_checklist_customer_found_through_stripe_metadata(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    # A Stripe customer made earlier (another name, another e-mail): only metadata links it.
    existing = sandbox.client.v1.customers.create(
        params={
            "name": "A. Lee (old record)",
            "email": "old-address@example.com",
            "metadata": {"user_id": str(market.customer_id)},
        }
    )
    sandbox.client.v1.customers.create(
        params={"name": "Ann Lee", "email": "ann@example.com", "metadata": {"user_id": "999"}}
    )
    result = completed_job(ctx, market)
    assert stripe_invoice(sandbox, invoice_id_of(result))["customer"] == existing.id
    listing = sandbox.client.v1.customers.list(params={"limit": 100})
    assert len(list(listing.auto_paging_iter())) == 2  # none created


def test_checklist_webhook_signature_verified(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = completed_job(ctx, market)
    assert sandbox.drain() == 0
    invoice = stripe_invoice(sandbox, invoice_id_of(result))
    # A forged "paid" event for our very invoice, well-formed in every other way.
    invoice.update(status="paid", amount_paid=PRICE, amount_remaining=0)
    payload = json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "invoice.paid",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": invoice},
        }
    )
    before = state(ctx, result.job_id, market.provider_id)
    now = int(time.time())
    attempts = {
        "unsigned": {},
        "wrong secret": {"Stripe-Signature": sign(payload, "whsec_not_ours", now)},
        "stale": {"Stripe-Signature": sign(payload, live_service.secret, now - 3600)},
        "garbage": {"Stripe-Signature": "t=1,v1=deadbeef"},
    }
    for name, headers in attempts.items():
        response = httpx.post(
            live_service.webhook_url,
            content=payload,
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status_code == 400, name
    assert state(ctx, result.job_id, market.provider_id) == before
    with session_scope(ctx.sessions) as session:
        forged = select(StripeEvent).where(StripeEvent.event_id == "evt_forged")
        assert session.scalar(forged) is None

    # The same body correctly signed is accepted: the refusals above were the signature's.
    signed = sign(payload, live_service.secret, int(time.time()))
    response = httpx.post(
        live_service.webhook_url,
        content=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signed},
    )
    assert response.status_code == 200


def test_checklist_payment_marks_job_paid(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = completed_job(ctx, market)
    ctx.gateway.pay_test_invoice(invoice_id_of(result), card="visa")
    assert sandbox.drain() == 0
    paid_at = stripe_invoice(sandbox, invoice_id_of(result))["status_transitions"]["paid_at"]
    status, job_paid_at, payment_status, method, marked_at, *_ = state(
        ctx, result.job_id, market.provider_id
    )
    assert (status, payment_status, method) == ("paid", "received", "stripe")
    assert job_paid_at is not None and marked_at is not None
    assert int(job_paid_at.timestamp()) == int(marked_at.timestamp()) == paid_at


def test_checklist_provider_earnings_updated(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    first = completed_job(ctx, market)
    second = completed_job(ctx, market, price=9950)
    ctx.gateway.pay_test_invoice(invoice_id_of(first), card="visa")
    assert sandbox.drain() == 0
    assert state(ctx, second.job_id, market.provider_id)[5:7] == (PRICE, 1)
    ctx.gateway.pay_test_invoice(invoice_id_of(second), card="visa")
    assert sandbox.drain() == 0
    assert state(ctx, second.job_id, market.provider_id)[5:7] == (PRICE + 9950, 2)


def test_checklist_both_sides_notified(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = completed_job(ctx, market)
    ctx.gateway.pay_test_invoice(invoice_id_of(result), card="visa")
    assert sandbox.drain() == 0
    assert payment_notes(ctx) == [
        (
            "customer",
            market.customer_id,
            "Payment Confirmed",
            "Your payment of $150.00 for Plumbing has been received. Thank you!",
        ),
        (
            "provider",
            market.provider_id,
            "Payment Received",
            f"Payment of $150.00 received for Job #{result.job_id}",
        ),
    ]


def test_checklist_failed_payment_keeps_payment_pending(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = completed_job(ctx, market)
    with pytest.raises(CardDeclined):
        ctx.gateway.pay_test_invoice(invoice_id_of(result), card="declined")
    assert sandbox.drain() == 0
    status, paid_at, payment_status, method, marked_at, earnings, jobs, _ = state(
        ctx, result.job_id, market.provider_id
    )
    assert (status, paid_at, payment_status, method, marked_at) == (
        "completed",
        None,
        "pending",
        None,
        None,
    )
    assert (earnings, jobs) == (0, 0)
    assert result.invoice is not None and result.invoice.hosted_invoice_url
    [(kind, recipient, title, body)] = payment_notes(ctx)
    assert (kind, recipient, title) == ("customer", market.customer_id, "Payment Failed")
    assert result.invoice.hosted_invoice_url in body
    assert stripe_invoice(sandbox, invoice_id_of(result))["status"] == "open"


def test_checklist_missed_webhook_changes_nothing_until_delivered(
    ctx: AppContext, sandbox: SandboxControl, market: Market, request: pytest.FixtureRequest
) -> None:
    # No webhook endpoint yet: Stripe takes the money, our database hears nothing.
    result = completed_job(ctx, market)
    before = state(ctx, result.job_id, market.provider_id)
    assert ctx.gateway.pay_test_invoice(invoice_id_of(result), card="visa").status == "paid"
    assert sandbox.drain() == 0
    assert state(ctx, result.job_id, market.provider_id) == before
    assert before[2] == "pending"

    # The service comes up; the missed event is delivered (as `stripe events resend` does).
    service: LiveService = request.getfixturevalue("live_service")
    listing = sandbox.client.v1.events.list(params={"type": "invoice.paid", "limit": 10})
    [event] = [e.to_dict() for e in listing.auto_paging_iter()]
    assert event["data"]["object"]["id"] == invoice_id_of(result)
    payload = json.dumps(event)
    for _ in range(2):  # a second delivery of the same event changes nothing more
        response = httpx.post(
            service.webhook_url,
            content=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(payload, service.secret, int(time.time())),
            },
        )
        assert response.status_code == 200
        after = state(ctx, result.job_id, market.provider_id)
        assert after[0] == "paid" and after[2:4] == ("received", "stripe")
        assert after[5:8] == (PRICE, 1, before[7] + 2)


def test_checklist_no_schema_changes(ctx: AppContext) -> None:
    tables = models.Base.metadata.tables
    database = inspect(ctx.engine)
    for name in DOMAIN_TABLES:
        declared = [column.name for column in tables[name].columns]
        migrated = [column["name"] for column in database.get_columns(name)]
        assert declared and sorted(declared) == sorted(migrated), name
        assert [column for column in declared if "stripe" in column.lower()] == [], name
    # The marketplace's columns, exactly as DESIGN.md lists them.
    assert sorted(column.name for column in tables["jobs"].columns) == sorted(
        [
            "id",
            "service_id",
            "customer_id",
            "provider_id",
            "price",
            "status",
            "description",
            "created_at",
            "completed_at",
            "paid_at",
        ]
    )
    assert sorted(column.name for column in tables["payments"].columns) == sorted(
        ["id", "job_id", "amount", "status", "method", "marked_at", "created_at"]
    )
