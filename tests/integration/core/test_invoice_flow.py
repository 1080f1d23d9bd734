"""The invoice flow end to end against the real Stripe sandbox, on SQLite and PostgreSQL.

No mocks: jobs are created and completed through core, invoices are made in the sandbox,
payments come back as signed webhooks to the live service. Faults are injected in the
sandbox itself. The only tweak is the SDK's network-retry delay (kept: the number of
retries; shortened: the wait between them) so that the fault tests stay quick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text

import core.billing.invoicing
from core.audit import for_job
from core.billing.invoice_content import service_date
from core.billing.invoicing import InvoiceResult, resend_invoice, send_invoice
from core.context import AppContext
from core.db.models import (
    Customer,
    InvoiceLock,
    Job,
    Notification,
    Payment,
    ServiceProvider,
    StripeEvent,
    utcnow,
)
from core.db.session import session_scope
from core.errors import (
    AppError,
    CardDeclined,
    Conflict,
    Forbidden,
    InvalidInput,
    InvoicingFailed,
    NotFound,
    RateLimited,
    StripeUnavailable,
)
from core.identity.actor import Actor
from core.jobs.lifecycle import CompletionResult, cancel_job, complete_job, create_job
from core.money import MAX_PRICE_CENTS
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl

PRICE = 15000
DAY = 86400
SDK_ATTEMPTS = 3  # the gateway's client makes 1 call + max_network_retries=2


# Database reads


def rows(ctx: AppContext, job_id: int) -> tuple[Job, Payment]:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        assert job is not None
        return job, payment


def provider_row(ctx: AppContext, provider_id: int) -> ServiceProvider:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        return provider


def notes(ctx: AppContext, **where: Any) -> list[Notification]:
    with session_scope(ctx.sessions) as session:
        return list(
            session.scalars(select(Notification).filter_by(**where).order_by(Notification.id))
        )


def count(ctx: AppContext, model: Any) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def failed_audits(ctx: AppContext, job_id: int) -> list[tuple[str, dict[str, Any] | None, str]]:
    with session_scope(ctx.sessions) as session:
        return [
            (entry.action, entry.after, entry.error or "")
            for entry in for_job(session, job_id)
            if entry.result == "failed"
        ]


# Sandbox reads (through the official SDK)


def stripe_invoices(sandbox: SandboxControl, job_id: int) -> list[dict[str, Any]]:
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    found = [invoice.to_dict() for invoice in listing.auto_paging_iter()]
    return [invoice for invoice in found if invoice["metadata"].get("job_id") == str(job_id)]


def live_invoices(sandbox: SandboxControl, job_id: int) -> list[dict[str, Any]]:
    return [invoice for invoice in stripe_invoices(sandbox, job_id) if invoice["status"] != "void"]


def stripe_customers(sandbox: SandboxControl, user_id: int) -> list[dict[str, Any]]:
    listing = sandbox.client.v1.customers.list(params={"limit": 100})
    found = [customer.to_dict() for customer in listing.auto_paging_iter()]
    return [customer for customer in found if customer["metadata"].get("user_id") == str(user_id)]


def events_for(sandbox: SandboxControl, event_type: str, invoice_id: str) -> int:
    listing = sandbox.client.v1.events.list(params={"type": event_type, "limit": 100})
    return sum(
        1
        for event in listing.auto_paging_iter()
        if event.to_dict()["data"]["object"]["id"] == invoice_id
    )


def faults_left(sandbox: SandboxControl) -> list[dict[str, Any]]:
    return list(sandbox.http.get("/_sandbox/faults").json()["faults"])


def clear_faults(sandbox: SandboxControl) -> None:
    sandbox.http.delete("/_sandbox/faults").raise_for_status()


def completed_uninvoiced_job(ctx: AppContext, sandbox: SandboxControl, market: Market) -> int:
    """A completed job whose invoicing failed at invoice create (nothing made in Stripe)."""
    job_id = job_for(ctx, market)
    sandbox.fault("/v1/invoices", method="POST", status=500, count=SDK_ATTEMPTS)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is not None and result.error.step == "invoice_create"
    clear_faults(sandbox)
    assert stripe_invoices(sandbox, job_id) == []
    return job_id


def start_concurrently(*calls: Callable[[], Any]) -> Callable[[], list[Any]]:
    """Start the calls together in threads; the returned function waits for the outcomes,
    each a return value or an exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as error:  # collected for the test to inspect
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()

    def wait() -> list[Any]:
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
        return outcomes

    return wait


def run_concurrently(*calls: Callable[[], Any]) -> list[Any]:
    return start_concurrently(*calls)()


def wait_until_blocked_on_jobs(ctx: AppContext, waiting: int) -> None:
    """Wait until `waiting` transactions queue behind a lock on the jobs table."""
    if ctx.engine.dialect.name != "postgresql":
        time.sleep(0.2)  # SQLite: they wait in BEGIN IMMEDIATE, which cannot be observed
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with ctx.engine.connect() as connection:
            blocked = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE jobs%'"
                )
            )
        if blocked == waiting:
            return
        time.sleep(0.02)
    raise AssertionError(f"{waiting} transactions never queued on the job row")


# The whole flow


def test_whole_flow_from_new_job_to_paid_job_with_both_sides_notified(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    # 1. Create job: new, payment pending with amount 0.
    job_id = job_for(ctx, market)
    job, payment = rows(ctx, job_id)
    assert (job.status, job.price, job.completed_at, job.paid_at) == ("new", PRICE, None, None)
    assert (job.customer_id, job.provider_id, job.service_id) == (
        market.customer_id,
        market.provider_id,
        market.service_id,
    )
    assert (payment.status, payment.amount, payment.method, payment.marked_at) == (
        "pending",
        0,
        None,
        None,
    )
    assert stripe_invoices(sandbox, job_id) == []

    # 2. The provider completes it: completed, completed_at, payment amount = price.
    started = utcnow()
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    job, payment = rows(ctx, job_id)
    assert job.status == "completed" and job.paid_at is None
    assert job.completed_at is not None and started <= job.completed_at <= utcnow()
    assert (payment.status, payment.amount, payment.method) == ("pending", PRICE, None)

    # 3. The invoice, as Stripe has it.
    [invoice] = stripe_invoices(sandbox, job_id)
    [customer] = stripe_customers(sandbox, market.customer_id)
    assert customer["metadata"] == {"user_id": str(market.customer_id)}
    assert (customer["name"], customer["email"]) == ("Ann Lee", "ann@example.com")
    assert invoice["id"] == result.invoice.invoice_id
    assert invoice["customer"] == customer["id"]
    assert invoice["status"] == "open"
    assert invoice["collection_method"] == "send_invoice"
    assert invoice["auto_advance"] is False
    assert invoice["currency"] == "usd"
    assert invoice["metadata"] == {"job_id": str(job_id), "payment_id": str(payment.id)}
    assert (invoice["amount_due"], invoice["amount_paid"]) == (PRICE, 0)
    finalized_at = invoice["status_transitions"]["finalized_at"]
    assert finalized_at is not None and invoice["due_date"] == finalized_at + 7 * DAY
    [line] = invoice["lines"]["data"]
    assert (line["amount"], line["currency"]) == (PRICE, "usd")
    assert line["description"] == "Plumbing - Home Repair"
    # What the customer reads: who did the work, which job, and when.
    assert job.completed_at is not None
    done_on = service_date(job.completed_at)
    assert invoice["custom_fields"] == [
        {"name": "Job", "value": f"#{job_id}"},
        {"name": "Service date", "value": done_on},
        {"name": "Provider", "value": "Rivera Plumbing"},
    ]
    assert invoice["description"] == (f"Plumbing by Rivera Plumbing on {done_on} (job #{job_id}).")
    assert f"quote job #{job_id}" in invoice["footer"]
    assert line["metadata"]["job_id"] == str(job_id)
    assert events_for(sandbox, "invoice.sent", invoice["id"]) == 1
    # What complete_job hands back is that invoice.
    assert result.invoice.status == "open" and result.invoice.amount_due == PRICE
    assert result.invoice.number == invoice["number"] and invoice["number"]
    assert result.invoice.hosted_invoice_url == invoice["hosted_invoice_url"]
    assert result.invoice.invoice_pdf == invoice["invoice_pdf"]
    assert result.invoice.due_date == datetime.fromtimestamp(invoice["due_date"], UTC)
    assert not result.invoice.overdue

    # Until it is paid nothing moves (the invoice.sent webhook only tells the customer).
    assert sandbox.drain() == 0
    job, payment = rows(ctx, job_id)
    assert (job.status, payment.status) == ("completed", "pending")
    assert provider_row(ctx, market.provider_id).earnings == 0
    assert notes(ctx, recipient_kind="provider") == []
    [waiting] = notes(ctx, recipient_kind="customer")
    assert (waiting.kind, waiting.title, waiting.job_id) == ("invoice_sent", "New Invoice", job_id)
    assert str(invoice["hosted_invoice_url"]) in waiting.body and "$150.00" in waiting.body

    # 4-5. Pay through the sandbox; the signed webhook marks everything.
    paid = ctx.gateway.pay_test_invoice(invoice["id"], card="visa")
    assert paid.status == "paid"
    assert sandbox.drain() == 0
    paid_at = datetime.fromtimestamp(
        sandbox.client.v1.invoices.retrieve(invoice["id"]).to_dict()["status_transitions"][
            "paid_at"
        ],
        UTC,
    )
    job, payment = rows(ctx, job_id)
    assert (payment.status, payment.method, payment.amount) == ("received", "stripe", PRICE)
    assert payment.marked_at == paid_at
    assert (job.status, job.paid_at) == ("paid", paid_at)
    provider = provider_row(ctx, market.provider_id)
    assert (provider.earnings, provider.total_jobs) == (PRICE, 1)

    # 6. Exactly one payment notification each side.
    customer_notes = notes(ctx, recipient_kind="customer", recipient_id=market.customer_id)
    assert [n.kind for n in customer_notes] == ["invoice_sent", "payment_confirmed"]
    confirmed = customer_notes[-1]
    assert (confirmed.title, confirmed.body, confirmed.job_id, confirmed.read_at) == (
        "Payment Confirmed",
        "Your payment of $150.00 for Plumbing has been received. Thank you!",
        job_id,
        None,
    )
    [received] = notes(ctx, recipient_kind="provider")
    assert (received.recipient_id, received.kind, received.title, received.body) == (
        market.provider_id,
        "payment_received",
        "Payment Received",
        f"Payment of $150.00 received for Job #{job_id}",
    )
    assert received.job_id == job_id
    assert count(ctx, Notification) == 3

    # Both paid events arrived: one applied, the other changed nothing.
    with session_scope(ctx.sessions) as session:
        outcomes = {
            event.type: str(event.outcome)
            for event in session.scalars(select(StripeEvent).where(StripeEvent.job_id == job_id))
        }
        assert ledger_mismatches(session) == []
        actions = [(entry.action, entry.result) for entry in for_job(session, job_id)]
    paid_outcomes = [outcomes["invoice.paid"], outcomes["invoice.payment_succeeded"]]
    assert sorted(paid_outcomes) == ["already_applied", "applied"]  # either may arrive first
    assert actions == [("job.completed", "ok"), ("invoice.send", "ok")]


def test_second_job_for_the_same_customer_reuses_the_stripe_customer(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    first = complete_job(ctx, job_id=job_for(ctx, market), actor=market.provider)
    second = complete_job(ctx, job_id=job_for(ctx, market, 9900), actor=market.provider)
    assert first.invoice is not None and second.invoice is not None
    assert first.invoice.invoice_id != second.invoice.invoice_id
    [customer] = stripe_customers(sandbox, market.customer_id)
    [one] = stripe_invoices(sandbox, first.job_id)
    [two] = stripe_invoices(sandbox, second.job_id)
    assert one["customer"] == two["customer"] == customer["id"]
    assert (one["amount_due"], two["amount_due"]) == (PRICE, 9900)

    # Another customer gets a Stripe customer of their own.
    with session_scope(ctx.sessions) as session:
        other = Customer(name="Bo Chen", email="bo@example.com")
        session.add(other)
        session.flush()
        other_id = other.id
    third_job = job_for(ctx, Market(other_id, market.provider_id, market.service_id))
    assert complete_job(ctx, job_id=third_job, actor=market.provider).error is None
    [other_customer] = stripe_customers(sandbox, other_id)
    assert other_customer["id"] != customer["id"]
    assert stripe_invoices(sandbox, third_job)[0]["customer"] == other_customer["id"]
    assert len(stripe_customers(sandbox, market.customer_id)) == 1


def test_declined_card_keeps_payment_pending_then_a_good_card_pays_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = complete_job(ctx, job_id=job_for(ctx, market), actor=market.provider)
    assert result.invoice is not None
    invoice_id, job_id = result.invoice.invoice_id, result.job_id

    with pytest.raises(CardDeclined):
        ctx.gateway.pay_test_invoice(invoice_id, card="declined")
    assert sandbox.drain() == 0
    job, payment = rows(ctx, job_id)
    assert (job.status, job.paid_at) == ("completed", None)
    assert (payment.status, payment.method, payment.marked_at) == ("pending", None, None)
    assert provider_row(ctx, market.provider_id).earnings == 0
    [failed] = notes(ctx, kind="payment_failed")
    assert (failed.recipient_kind, failed.recipient_id, failed.job_id) == (
        "customer",
        market.customer_id,
        job_id,
    )
    assert failed.title == "Payment Failed"
    assert result.invoice.hosted_invoice_url
    assert result.invoice.hosted_invoice_url in failed.body and "$150.00" in failed.body
    assert notes(ctx, recipient_kind="provider") == []

    assert ctx.gateway.pay_test_invoice(invoice_id, card="visa").status == "paid"
    assert sandbox.drain() == 0
    job, payment = rows(ctx, job_id)
    assert (job.status, payment.status, payment.method) == ("paid", "received", "stripe")
    provider = provider_row(ctx, market.provider_id)
    assert (provider.earnings, provider.total_jobs) == (PRICE, 1)
    assert [n.kind for n in notes(ctx, job_id=job_id) if n.kind != "invoice_sent"] == [
        "payment_failed",
        "payment_confirmed",
        "payment_received",
    ]
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []


def test_resend_emails_an_open_invoice_again_and_refuses_a_paid_one(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    with pytest.raises(NotFound):
        resend_invoice(ctx, job_id=job_id, actor=Actor("admin"))  # new job: nothing to resend
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    invoice_id = result.invoice.invoice_id
    assert events_for(sandbox, "invoice.sent", invoice_id) == 1

    again = resend_invoice(ctx, job_id=job_id, actor=market.provider)
    assert (again.invoice_id, again.status) == (invoice_id, "open")
    assert events_for(sandbox, "invoice.sent", invoice_id) == 2
    assert resend_invoice(ctx, job_id=job_id, actor=Actor("admin")).invoice_id == invoice_id
    assert events_for(sandbox, "invoice.sent", invoice_id) == 3
    assert [invoice["id"] for invoice in stripe_invoices(sandbox, job_id)] == [invoice_id]
    with pytest.raises(Forbidden):
        resend_invoice(ctx, job_id=job_id, actor=Actor("customer", market.customer_id))
    with pytest.raises(NotFound):
        resend_invoice(ctx, job_id=job_id, actor=Actor("provider", market.provider_id + 1000))

    # A resend that Stripe refuses is reported and audited, and sends nothing.
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=SDK_ATTEMPTS)
    with pytest.raises(StripeUnavailable):
        resend_invoice(ctx, job_id=job_id, actor=market.provider)
    assert [(action, error != "") for action, _, error in failed_audits(ctx, job_id)] == [
        ("invoice.resend", True)
    ]
    assert events_for(sandbox, "invoice.sent", invoice_id) == 3

    ctx.gateway.pay_test_invoice(invoice_id, card="visa")
    with pytest.raises(Conflict, match="paid"):
        resend_invoice(ctx, job_id=job_id, actor=market.provider)
    assert events_for(sandbox, "invoice.sent", invoice_id) == 3
    assert len(stripe_invoices(sandbox, job_id)) == 1


def test_send_invoice_after_the_invoice_was_voided_makes_a_new_open_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """An admin voids a job's open invoice in Stripe (say, it went to the wrong address);
    "send invoice" must then bill the job again: a void invoice is not live (invoicing
    resumes only a draft, open or paid one), and reporting it as sent leaves nothing to pay."""
    job_id = job_for(ctx, market)
    first = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert first.invoice is not None
    sandbox.client.v1.invoices.void_invoice(first.invoice.invoice_id)

    again = send_invoice(ctx, job_id=job_id, actor=Actor("admin"))
    assert (again.status, again.amount_due) == ("open", PRICE), again
    assert again.invoice_id != first.invoice.invoice_id
    [live] = live_invoices(sandbox, job_id)
    assert live["id"] == again.invoice_id
    assert [line["amount"] for line in live["lines"]["data"]] == [PRICE]


# Faults at each Stripe step

STEP_FAULTS = [
    ("customer_search", "GET", "/v1/customers/search", "before"),
    ("customer_create", "POST", "/v1/customers", "before"),
    ("customer_create", "POST", "/v1/customers", "after"),
    ("invoice_create", "POST", "/v1/invoices", "before"),
    ("invoice_create", "POST", "/v1/invoices", "after"),
    ("item_create", "POST", "/v1/invoiceitems", "before"),
    ("item_create", "POST", "/v1/invoiceitems", "after"),
    ("send", "POST", "/v1/invoices/*/send", "before"),
    ("send", "POST", "/v1/invoices/*/send", "after"),
]


@pytest.mark.parametrize(
    ("step", "method", "path", "when"),
    [pytest.param(*fault, id=f"{fault[0]}-{fault[3]}") for fault in STEP_FAULTS],
)
def test_a_failed_stripe_step_leaves_the_job_completed_and_a_retry_makes_one_invoice(
    ctx: AppContext,
    sandbox: SandboxControl,
    market: Market,
    step: str,
    method: str,
    path: str,
    when: str,
) -> None:
    job_id = job_for(ctx, market)
    sandbox.fault(path, method=method, status=500, count=SDK_ATTEMPTS, when=when)

    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is None
    assert isinstance(result.error, InvoicingFailed)
    assert result.error.step == step
    assert step.replace("_", " ") in result.error.message
    assert isinstance(result.error.cause, StripeUnavailable)
    assert faults_left(sandbox) == []  # every SDK attempt hit the fault
    job, payment = rows(ctx, job_id)
    assert (job.status, job.paid_at) == ("completed", None)
    assert (payment.status, payment.amount) == ("pending", PRICE)
    [(action, after, error)] = failed_audits(ctx, job_id)
    assert (action, after) == ("invoice.send", {"step": step})
    assert error

    retried = send_invoice(ctx, job_id=job_id, actor=market.provider)
    [invoice] = live_invoices(sandbox, job_id)
    assert (retried.invoice_id, retried.status, retried.amount_due) == (
        invoice["id"],
        "open",
        PRICE,
    )
    assert (invoice["status"], invoice["amount_due"]) == ("open", PRICE)
    [line] = invoice["lines"]["data"]
    assert (line["amount"], line["description"]) == (PRICE, "Plumbing - Home Repair")
    [customer] = stripe_customers(sandbox, market.customer_id)
    assert invoice["customer"] == customer["id"]
    # A send whose answer was lost is not repeated: the customer gets one email.
    assert events_for(sandbox, "invoice.sent", invoice["id"]) == 1
    assert rows(ctx, job_id)[0].status == "completed"
    assert len(failed_audits(ctx, job_id)) == 1


def test_rate_limited_invoice_create_is_retried_with_backoff(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    sandbox.fault("/v1/invoices", method="POST", status=429, count=2)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    assert faults_left(sandbox) == []
    [invoice] = stripe_invoices(sandbox, job_id)
    assert (invoice["id"], invoice["status"], invoice["amount_due"]) == (
        result.invoice.invoice_id,
        "open",
        PRICE,
    )
    assert failed_audits(ctx, job_id) == []


def test_persistent_rate_limit_fails_with_a_clear_error(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    sandbox.fault("/v1/invoices", method="POST", status=429, count=20)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is None and result.error is not None
    assert result.error.step == "invoice_create"
    assert isinstance(result.error.cause, RateLimited)
    assert "rate limiting" in result.error.message
    # The gateway gave up after its three attempts (a 429 is not retried by the SDK).
    [left] = faults_left(sandbox)
    assert left["count"] == 20 - ctx.gateway.rate_limit_attempts
    assert stripe_invoices(sandbox, job_id) == []
    assert rows(ctx, job_id)[0].status == "completed"
    [(_, after, error)] = failed_audits(ctx, job_id)
    assert after == {"step": "invoice_create"} and "rate limiting" in error

    clear_faults(sandbox)
    assert send_invoice(ctx, job_id=job_id, actor=market.provider).status == "open"
    assert len(live_invoices(sandbox, job_id)) == 1


# Concurrency


def test_two_concurrent_completions_make_one_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    outcomes = run_concurrently(
        lambda: complete_job(ctx, job_id=job_id, actor=market.provider),
        lambda: complete_job(ctx, job_id=job_id, actor=market.provider),
    )
    done = [o for o in outcomes if isinstance(o, CompletionResult)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(done), len(refused)) == (1, 1), outcomes
    assert done[0].error is None and done[0].invoice is not None
    [invoice] = stripe_invoices(sandbox, job_id)
    assert invoice["id"] == done[0].invoice.invoice_id
    assert events_for(sandbox, "invoice.sent", invoice["id"]) == 1
    assert len(stripe_customers(sandbox, market.customer_id)) == 1
    with session_scope(ctx.sessions) as session:
        completions = [e for e in for_job(session, job_id) if e.action == "job.completed"]
    assert len(completions) == 1


def test_the_losing_concurrent_completion_is_told_the_job_is_completed(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """Both completions read the job while it is new and then queue on its row; the loser's
    Conflict must describe the job as it is (completed), not as it was read (new)."""
    job_id = job_for(ctx, market)
    holder = ctx.sessions()
    try:
        # Another transaction holds the job row (on SQLite: the write lock).
        holder.execute(select(Job.id).where(Job.id == job_id).with_for_update())
        wait = start_concurrently(
            lambda: complete_job(ctx, job_id=job_id, actor=market.provider),
            lambda: complete_job(ctx, job_id=job_id, actor=market.provider),
        )
        wait_until_blocked_on_jobs(ctx, 2)
    finally:
        holder.commit()
        holder.close()
    outcomes = wait()
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refused) == 1 and len(stripe_invoices(sandbox, job_id)) == 1, outcomes
    assert f"Job #{job_id} is completed" in refused[0].message, refused[0].message
    assert "send-invoice" in refused[0].message


def test_two_concurrent_sends_after_a_failed_invoicing_make_one_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = completed_uninvoiced_job(ctx, sandbox, market)
    # Slow the first Stripe call down so that the two attempts overlap.
    sandbox.fault("/v1/customers/search", method="GET", delay=0.3, count=1)
    outcomes = run_concurrently(
        lambda: send_invoice(ctx, job_id=job_id, actor=market.provider),
        lambda: send_invoice(ctx, job_id=job_id, actor=Actor("admin")),
    )
    sent = [o for o in outcomes if isinstance(o, InvoiceResult)]
    assert all(isinstance(o, InvoiceResult | Conflict) for o in outcomes), outcomes
    assert sent
    [invoice] = live_invoices(sandbox, job_id)
    assert {result.invoice_id for result in sent} == {invoice["id"]}
    assert (invoice["status"], invoice["amount_due"], len(invoice["lines"]["data"])) == (
        "open",
        PRICE,
        1,
    )
    assert events_for(sandbox, "invoice.sent", invoice["id"]) == 1
    assert count(ctx, InvoiceLock) == 0


def test_concurrent_first_jobs_of_a_new_customer_make_one_stripe_customer(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    first, second = (
        job_for(ctx, market),
        job_for(ctx, market, 9900),
    )
    # Both searches answer late, so both find no customer and both go on to create one.
    sandbox.fault("/v1/customers/search", method="GET", delay=0.2, count=2)
    outcomes = run_concurrently(
        lambda: complete_job(ctx, job_id=first, actor=market.provider),
        lambda: complete_job(ctx, job_id=second, actor=market.provider),
    )
    assert all(isinstance(o, CompletionResult) and o.error is None for o in outcomes), outcomes
    [customer] = stripe_customers(sandbox, market.customer_id)
    [one], [two] = stripe_invoices(sandbox, first), stripe_invoices(sandbox, second)
    assert one["customer"] == two["customer"] == customer["id"]


# Job rules


def test_only_the_jobs_provider_can_complete_it(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        stranger = ServiceProvider(name="Other Co", email="other@example.com")
        session.add(stranger)
        session.flush()
        stranger_id = stranger.id
    with pytest.raises(NotFound):
        complete_job(ctx, job_id=job_id, actor=Actor("provider", stranger_id))
    for outsider in (Actor("customer", market.customer_id), Actor("finance", 1)):
        with pytest.raises(Forbidden):
            complete_job(ctx, job_id=job_id, actor=outsider)
    with pytest.raises(NotFound):
        complete_job(ctx, job_id=job_id + 1000, actor=market.provider)
    job, payment = rows(ctx, job_id)
    assert (job.status, job.completed_at, payment.amount) == ("new", None, 0)
    assert stripe_invoices(sandbox, job_id) == []
    with session_scope(ctx.sessions) as session:
        assert for_job(session, job_id) == []

    assert complete_job(ctx, job_id=job_id, actor=market.provider).error is None
    assert rows(ctx, job_id)[0].status == "completed"


def test_a_completed_job_cannot_be_completed_again_or_cancelled(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    first = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert first.invoice is not None
    completed_at = rows(ctx, job_id)[0].completed_at
    with pytest.raises(Conflict, match="send-invoice"):
        complete_job(ctx, job_id=job_id, actor=market.provider)
    with pytest.raises(Conflict):
        complete_job(ctx, job_id=job_id, actor=Actor("admin"))
    with session_scope(ctx.sessions) as session, pytest.raises(Conflict):
        cancel_job(session, job_id=job_id, actor=market.provider)
    job, payment = rows(ctx, job_id)
    assert (job.status, job.completed_at, payment.amount) == ("completed", completed_at, PRICE)
    [invoice] = stripe_invoices(sandbox, job_id)
    assert invoice["id"] == first.invoice.invoice_id
    assert events_for(sandbox, "invoice.sent", invoice["id"]) == 1


def test_a_paid_job_cannot_be_completed_cancelled_or_invoiced(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    result = complete_job(ctx, job_id=job_for(ctx, market), actor=market.provider)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain() == 0
    job_id = result.job_id
    assert rows(ctx, job_id)[0].status == "paid"
    with pytest.raises(Conflict):
        complete_job(ctx, job_id=job_id, actor=market.provider)
    with pytest.raises(Conflict, match="already paid"):
        send_invoice(ctx, job_id=job_id, actor=market.provider)
    with session_scope(ctx.sessions) as session, pytest.raises(Conflict):
        cancel_job(session, job_id=job_id, actor=Actor("admin"))
    job, payment = rows(ctx, job_id)
    assert (job.status, payment.status) == ("paid", "received")
    assert len(stripe_invoices(sandbox, job_id)) == 1
    provider = provider_row(ctx, market.provider_id)
    assert (provider.earnings, provider.total_jobs) == (PRICE, 1)


def test_cancel_only_from_new_and_a_cancelled_job_is_never_invoiced(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session, pytest.raises(Forbidden):
        cancel_job(session, job_id=job_id, actor=Actor("finance", 1))
    with session_scope(ctx.sessions) as session:
        cancelled = cancel_job(session, job_id=job_id, actor=market.provider, reason="no show")
        assert cancelled.status == "cancelled"
    with session_scope(ctx.sessions) as session, pytest.raises(Conflict):
        cancel_job(session, job_id=job_id, actor=market.provider)
    with pytest.raises(Conflict):
        complete_job(ctx, job_id=job_id, actor=market.provider)
    with pytest.raises(Conflict, match="cancelled"):
        send_invoice(ctx, job_id=job_id, actor=market.provider)
    job, payment = rows(ctx, job_id)
    assert (job.status, job.completed_at, payment.amount, payment.status) == (
        "cancelled",
        None,
        0,
        "pending",
    )
    assert stripe_invoices(sandbox, job_id) == []
    assert stripe_customers(sandbox, market.customer_id) == []
    with session_scope(ctx.sessions) as session:
        entries = [(e.action, e.reason, e.result) for e in for_job(session, job_id)]
    assert entries == [("job.cancelled", "no show", "ok")]


def test_a_new_job_cannot_be_invoiced_before_completion(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    with pytest.raises(Conflict, match="complete it first"):
        send_invoice(ctx, job_id=job_id, actor=market.provider)
    assert stripe_invoices(sandbox, job_id) == []
    assert stripe_customers(sandbox, market.customer_id) == []


BAD_JOBS: list[tuple[str, dict[str, Any], type[AppError]]] = [
    ("zero-price", {"price": 0}, InvalidInput),
    ("negative-price", {"price": -15000}, InvalidInput),
    ("too-large-price", {"price": MAX_PRICE_CENTS + 1}, InvalidInput),
    ("unknown-customer", {"customer_id": 9999}, NotFound),
    ("unknown-provider", {"provider_id": 9999}, NotFound),
    ("unknown-service", {"service_id": 9999}, NotFound),
]


@pytest.mark.parametrize(
    ("change", "error"), [pytest.param(change, error, id=name) for name, change, error in BAD_JOBS]
)
def test_create_job_refuses_bad_input_and_changes_nothing(
    ctx: AppContext, market: Market, change: dict[str, Any], error: type[AppError]
) -> None:
    fields: dict[str, Any] = {
        "customer_id": market.customer_id,
        "provider_id": market.provider_id,
        "service_id": market.service_id,
        "price": PRICE,
        **change,
    }
    # Even a caller that commits after the refusal leaves no row behind.
    with session_scope(ctx.sessions) as session:
        with pytest.raises(error):
            create_job(session, **fields)
        session.commit()
    assert (count(ctx, Job), count(ctx, Payment)) == (0, 0)


def test_create_job_accepts_the_price_limits(ctx: AppContext, market: Market) -> None:
    cheapest, dearest = (
        job_for(ctx, market, 50),  # Stripe's minimum charge in USD
        job_for(ctx, market, MAX_PRICE_CENTS),
    )
    assert (rows(ctx, cheapest)[0].price, rows(ctx, dearest)[0].price) == (50, MAX_PRICE_CENTS)
    assert {rows(ctx, job_id)[1].amount for job_id in (cheapest, dearest)} == {0}


# The invoicing lock


def test_a_stale_invoice_lock_is_taken_over(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = completed_uninvoiced_job(ctx, sandbox, market)
    with session_scope(ctx.sessions) as session:
        session.add(
            InvoiceLock(
                job_id=job_id,
                owner="crashed-worker",
                acquired_at=utcnow() - timedelta(minutes=10),
            )
        )
    result = send_invoice(ctx, job_id=job_id, actor=market.provider)
    [invoice] = live_invoices(sandbox, job_id)
    assert (result.invoice_id, invoice["status"]) == (invoice["id"], "open")
    assert count(ctx, InvoiceLock) == 0  # released by the new owner


def test_a_fresh_invoice_lock_held_elsewhere_makes_send_wait_then_conflict(
    ctx: AppContext, sandbox: SandboxControl, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = completed_uninvoiced_job(ctx, sandbox, market)
    monkeypatch.setattr(core.billing.invoicing, "LOCK_WAIT_SECONDS", 0.3)
    with session_scope(ctx.sessions) as session:
        session.add(InvoiceLock(job_id=job_id, owner="busy-worker", acquired_at=utcnow()))
    started = time.monotonic()
    with pytest.raises(Conflict, match="being invoiced"):
        send_invoice(ctx, job_id=job_id, actor=market.provider)
    assert 0.3 <= time.monotonic() - started < 5
    with session_scope(ctx.sessions) as session:
        locks = [(lock.job_id, lock.owner) for lock in session.scalars(select(InvoiceLock))]
    assert locks == [(job_id, "busy-worker")]
    assert stripe_invoices(sandbox, job_id) == []
    assert rows(ctx, job_id)[0].status == "completed"

    # Once the other worker lets go, sending works.
    with session_scope(ctx.sessions) as session:
        session.execute(delete(InvoiceLock).where(InvoiceLock.job_id == job_id))
    assert send_invoice(ctx, job_id=job_id, actor=market.provider).status == "open"
    assert len(live_invoices(sandbox, job_id)) == 1
