"""Stripe events for webhook tests: a billed job, the invoice and event JSON Stripe sends
about it, signed as Stripe signs, delivered over HTTP, and what the database then holds."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe
from sqlalchemy import select

from core.billing.customers import remember_stripe_customer
from core.context import AppContext
from core.db.models import Job, Notification, Payment, ServiceProvider, StripeEvent
from core.db.session import session_scope
from core.reporting.earnings import ledger_mismatches
from stripe_sandbox.webhooks import sign
from tests.support.factories import marketplace, new_job

SECRET = "whsec_webhook_endpoint_tests"
WEBHOOK = "/payments/stripe/webhook"
ALIAS = "/payments/webhook"
PAID_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
PAID_NOTIFICATIONS = [("customer", "payment_confirmed"), ("provider", "payment_received")]


# The job, and the events Stripe would send about its invoice


@dataclass(frozen=True)
class Billed:
    """A completed job whose pending payment carries the price, as after `complete_job`."""

    job_id: int
    payment_id: int
    provider_id: int
    customer_id: int
    amount: int
    invoice_id: str


def stripe_customer_of(customer_id: int) -> str:
    return f"cus_test{customer_id}"


def billed_job(ctx: AppContext, price: int = 15000) -> Billed:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job = new_job(session, customer, provider, service, price=price)
        job.status = "completed"
        job.completed_at = datetime.now(UTC)
        payment = session.scalars(select(Payment).where(Payment.job_id == job.id)).one()
        payment.amount = price
        # As invoicing records it: the job's customer is this Stripe customer.
        remember_stripe_customer(session, customer.id, stripe_customer_of(customer.id))
        session.flush()
        return Billed(job.id, payment.id, provider.id, customer.id, price, f"in_test{job.id:06d}")


def invoice_object(
    billed: Billed,
    *,
    status: str = "paid",
    amount_paid: int | None = None,
    paid_at: int | None = PAID_AT,
) -> dict[str, Any]:
    """An invoice as an event's `data.object` carries it."""
    now = int(time.time())
    if amount_paid is None:
        amount_paid = billed.amount if status == "paid" else 0
    return {
        "id": billed.invoice_id,
        "object": "invoice",
        "created": now - 3600,
        "number": f"TEST-{billed.job_id:04d}",
        "status": status,
        "customer": stripe_customer_of(billed.customer_id),
        "currency": "usd",
        "collection_method": "send_invoice",
        "amount_due": billed.amount,
        "amount_paid": amount_paid,
        "amount_remaining": max(billed.amount - amount_paid, 0),
        "metadata": {"job_id": str(billed.job_id), "payment_id": str(billed.payment_id)},
        "status_transitions": {
            "finalized_at": now - 600,
            "paid_at": paid_at if status == "paid" else None,
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{billed.invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test/{billed.invoice_id}/pdf",
        "due_date": now + 7 * 86400,
    }


def stripe_event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


# Talking to the service


def signed(payload: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign(payload, secret, stamp),
    }


def deliver(http: httpx.Client, event: dict[str, Any], path: str = WEBHOOK) -> httpx.Response:
    payload = json.dumps(event, indent=2)
    return http.post(path, content=payload, headers=signed(payload))


def outcome_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] is True
    return str(body["outcome"])


def post_concurrently(deliveries: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """POST each (url, event) from its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(deliveries))

    def post(delivery: tuple[str, dict[str, Any]]) -> httpx.Response:
        url, event = delivery
        payload = json.dumps(event)
        headers = signed(payload)
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=20)
            return client.post(url, content=payload, headers=headers)

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        return list(pool.map(post, deliveries))


def assert_error_body(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# Reading the database


@dataclass(frozen=True)
class Snapshot:
    payment_status: str
    payment_amount: int
    payment_method: str | None
    marked_at: datetime | None
    job_status: str
    paid_at: datetime | None
    earnings: int
    total_jobs: int
    notifications: tuple[tuple[str, str], ...]  # (recipient kind, kind), sorted


def snapshot(ctx: AppContext, billed: Billed) -> Snapshot:
    with session_scope(ctx.sessions) as session:
        payment = session.get(Payment, billed.payment_id)
        job = session.get(Job, billed.job_id)
        provider = session.get(ServiceProvider, billed.provider_id)
        assert payment is not None and job is not None and provider is not None
        notes = session.scalars(select(Notification).where(Notification.job_id == billed.job_id))
        return Snapshot(
            payment.status,
            payment.amount,
            payment.method,
            payment.marked_at,
            job.status,
            job.paid_at,
            provider.earnings,
            provider.total_jobs,
            tuple(sorted((note.recipient_kind, note.kind) for note in notes)),
        )


def event_rows(ctx: AppContext) -> dict[str, StripeEvent]:
    with session_scope(ctx.sessions) as session:
        return {row.event_id: row for row in session.scalars(select(StripeEvent))}


def event_outcomes(ctx: AppContext) -> dict[str, str | None]:
    return {event_id: row.outcome for event_id, row in event_rows(ctx).items()}


def assert_money_adds_up(ctx: AppContext) -> None:
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []


def assert_paid_once(ctx: AppContext, billed: Billed, paid_at: int = PAID_AT) -> None:
    state = snapshot(ctx, billed)
    when = datetime.fromtimestamp(paid_at, UTC)
    assert (state.payment_status, state.payment_method, state.marked_at) == (
        "received",
        "stripe",
        when,
    )
    assert state.payment_amount == billed.amount
    assert (state.job_status, state.paid_at) == ("paid", when)
    assert (state.earnings, state.total_jobs) == (billed.amount, 1)
    assert state.notifications == tuple(PAID_NOTIFICATIONS)
    assert_money_adds_up(ctx)


def assert_untouched(ctx: AppContext, billed: Billed) -> None:
    """The completed job still waits for its money: nothing was credited or sent."""
    state = snapshot(ctx, billed)
    assert (state.payment_status, state.payment_amount, state.payment_method) == (
        "pending",
        billed.amount,
        None,
    )
    assert (state.job_status, state.paid_at, state.marked_at) == ("completed", None, None)
    assert (state.earnings, state.total_jobs) == (0, 0)
    assert state.notifications == ()
    assert_money_adds_up(ctx)
