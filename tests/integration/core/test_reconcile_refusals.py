"""Reconciliation of what the webhooks could not take: an invoice that was never sent, and
live Stripe invoices that our webhooks refuse or cannot place. Also the Stripe-side edges
that led there: a 429 after finalize, and Stripe's minimum charge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from core.billing.admin_actions import attach_invoice
from core.billing.invoicing import process_job_payment
from core.billing.reconcile import drift_report
from core.billing.repairs import repair_all
from core.billing.webhooks import process_event
from core.context import AppContext
from core.db.models import AuditLog, Job, Payment, StripeInvoice
from core.db.session import session_scope
from core.errors import Conflict, InvalidInput
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.integration.core.conftest import CliRun
from tests.support.factories import Market, invoice_in_stripe, invoiced_job, job_for
from tests.support.sandbox import SandboxControl

ADMIN = Actor("admin", 7)
PRICE = 15000
SDK_ATTEMPTS = 3


def kinds(ctx: AppContext) -> list[tuple[str, int]]:
    return sorted((d.kind, d.job_id) for d in drift_report(ctx, actor=ADMIN).drifts)


def payment_of(ctx: AppContext, job_id: int) -> tuple[str, int, str | None]:
    with session_scope(ctx.sessions) as session:
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        return payment.status, payment.amount, payment.method


def finalized_never_sent(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> tuple[int, str]:
    """A job whose invoice is finalized and open in Stripe but was never sent: its send kept
    failing, and the draft was finalized in Stripe (by hand, or by an earlier version that
    finalized before sending). No webhook reaches us meanwhile."""
    job_id = job_for(ctx, market)
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=SDK_ATTEMPTS * 2)
    first = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert first.error is not None and first.error.step == "send"
    with pytest.raises(Exception, match="send"):
        process_job_payment(ctx, job_id=job_id, actor=market.provider)  # the retry fails too
    sandbox.http.delete("/_sandbox/faults").raise_for_status()
    [invoice] = sandbox.client.v1.invoices.search(
        params={"query": f"metadata['job_id']:'{job_id}'"}
    ).data
    assert invoice.id is not None and invoice.status == "draft"
    sandbox.client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": False})
    return job_id, invoice.id


def test_an_open_invoice_never_sent_is_found_and_sent(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, invoice_id = finalized_never_sent(ctx, sandbox, market)
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "open"  # no e-mail yet

    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id, d.invoice_ids) for d in report.drifts] == [
        ("never_sent", job_id, (invoice_id,))
    ]
    assert all(result.ok for result in repair_all(ctx, report, actor=ADMIN, reason="send it"))

    sent = sandbox.client.v1.events.list(params={"type": "invoice.sent", "limit": 10}).data
    assert [event.data.object["id"] for event in sent] == [invoice_id]
    with session_scope(ctx.sessions) as session:
        copy = session.get(StripeInvoice, invoice_id)
        assert copy is not None and copy.sent_at is not None
    assert kinds(ctx) == []


def test_the_cli_exits_3_while_an_invoice_was_never_sent(
    ctx: AppContext,
    sandbox: SandboxControl,
    market: Market,
    reconcile_cli: Callable[..., CliRun],
) -> None:
    job_id, _ = finalized_never_sent(ctx, sandbox, market)

    run = reconcile_cli("reconcile", "--json")
    assert run.code == 3
    assert [(d["kind"], d["job_id"]) for d in run.data["drift"]] == [("never_sent", job_id)]
    fixed = reconcile_cli("reconcile", "--apply", "--json")
    assert fixed.code == 0 and fixed.data["drift"] == []


def test_refused_and_unplaced_invoices_are_listed_with_what_to_do(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """A paid $42 invoice whose metadata names a job that does not exist, and a paid $0.01
    invoice for a job priced $150: the webhooks flag both, and reconciliation must too."""
    job_id, sent = invoiced_job(ctx, market)
    assert sandbox.drain() == 0
    with session_scope(ctx.sessions) as session:
        customer = session.get(StripeInvoice, sent)
        assert customer is not None
        stripe_customer, payment_id = customer.customer, customer.payment_id
    assert payment_id is not None
    nowhere = invoice_in_stripe(
        sandbox,
        customer=stripe_customer,
        job_id=987654,
        payment_id=987654,
        amount=4200,
        finalize=True,
    )
    sandbox.client.v1.invoices.pay(nowhere, params={"payment_method": "pm_card_visa"})
    cent = invoice_in_stripe(
        sandbox,
        customer=stripe_customer,
        job_id=job_id,
        payment_id=payment_id,
        amount=1,
        finalize=True,
    )
    assert sandbox.drain() == 0

    with session_scope(ctx.sessions) as session:  # neither is the invoice the job counts
        current = session.scalar(
            select(StripeInvoice.invoice_id).where(
                StripeInvoice.job_id == job_id, StripeInvoice.is_current
            )
        )
    assert current == sent
    assert payment_of(ctx, job_id) == ("pending", PRICE, None)

    drifts = {d.invoice_ids[0]: d for d in drift_report(ctx, actor=ADMIN).drifts}
    assert set(drifts) == {nowhere, cent}
    assert drifts[nowhere].kind == drifts[cent].kind == "refused_invoice"
    assert "names no job of ours" in drifts[nowhere].fix
    assert "refund it in Stripe, or attach it" in drifts[nowhere].fix
    assert not drifts[nowhere].repairable
    # Below Stripe's minimum charge: marked paid with nothing collected.
    assert "paid $0.00" in drifts[cent].fix and "$150.00" in drifts[cent].fix
    assert not drifts[cent].repairable

    # Attaching the $0.01 to the $150 job is refused: the amounts do not add up.
    with pytest.raises(Conflict, match=r"Stripe received \$0\.00; payment #\d+ is for \$150\.00"):
        attach_invoice(ctx, invoice_id=cent, job_id=job_id, actor=ADMIN, reason="mistake")
    assert payment_of(ctx, job_id) == ("pending", PRICE, None)


def test_a_paid_invoice_naming_the_wrong_job_is_attached_to_the_right_one(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, sent = invoiced_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        copy = session.get(StripeInvoice, sent)
        assert copy is not None
        stripe_customer = copy.customer
    # Someone voided ours and billed the job again by hand, with a typo in the job number.
    sandbox.client.v1.invoices.void_invoice(sent)
    typo = invoice_in_stripe(
        sandbox,
        customer=stripe_customer,
        job_id=job_id + 1000,
        payment_id=1,
        amount=PRICE,
        finalize=True,
    )
    sandbox.client.v1.invoices.pay(typo, params={"payment_method": "pm_card_visa"})
    assert ("refused_invoice", job_id + 1000) in kinds(ctx)

    with pytest.raises(InvalidInput):
        attach_invoice(ctx, invoice_id=typo, job_id=job_id, actor=ADMIN, reason=" ")
    done = attach_invoice(ctx, invoice_id=typo, job_id=job_id, actor=ADMIN, reason="typo")

    assert done.message == f"Invoice {typo} was credited to job #{job_id}."
    assert payment_of(ctx, job_id) == ("received", PRICE, "stripe")
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []
        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "payment.attach"))
        assert (entry.job_id, entry.reason, entry.result) == (job_id, "typo", "ok")
        current = session.scalar(
            select(StripeInvoice.invoice_id).where(
                StripeInvoice.job_id == job_id, StripeInvoice.is_current
            )
        )
    assert current == typo
    assert kinds(ctx) == []  # held for the right job now, whatever its metadata says
    with pytest.raises(Conflict):
        attach_invoice(ctx, invoice_id=typo, job_id=job_id, actor=ADMIN, reason="again")


def test_a_429_after_finalize_is_retried_under_the_same_key(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """The finalize went through but its answer was a 429: the gateway's retry must carry
    the same idempotency key, so Stripe replays the finalization instead of refusing an
    invoice that is "already finalized"."""
    for _ in range(5):
        job_id = job_for(ctx, market)
        sandbox.fault("/v1/invoices/*/finalize", method="POST", status=429, count=1, when="after")
        result = complete_job(ctx, job_id=job_id, actor=market.provider)
        assert result.error is None, result.error
        assert result.invoice is not None and result.invoice.status == "open"
    assert kinds(ctx) == []


def test_a_job_priced_below_stripes_minimum_charge_cannot_be_completed(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:  # priced before the rule existed
        session.execute(update(Job).where(Job.id == job_id).values(price=1))
    with pytest.raises(InvalidInput, match="minimum charge"):
        complete_job(ctx, job_id=job_id, actor=market.provider)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "new"
    assert sandbox.client.v1.invoices.list(params={"limit": 1}).data == []


def test_what_stripe_does_below_the_minimum_charge_is_never_credited(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """Why the rule exists, against the sandbox's Stripe behaviour: an invoice below the
    minimum is marked paid at once with nothing collected. Its invoice.paid must not pay
    the job."""
    job_id, sent = invoiced_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        copy = session.get(StripeInvoice, sent)
        assert copy is not None and copy.payment_id is not None
        stripe_customer, payment_id = copy.customer, copy.payment_id
    cent = invoice_in_stripe(
        sandbox,
        customer=stripe_customer,
        job_id=job_id,
        payment_id=payment_id,
        amount=1,
        finalize=True,
    )
    invoice = sandbox.client.v1.invoices.retrieve(cent)
    assert (invoice.status, invoice.amount_paid) == ("paid", 0)
    [paid] = sandbox.client.v1.events.list(params={"type": "invoice.paid", "limit": 1}).data
    since = datetime.fromtimestamp(paid.created - 1, tz=UTC)
    [event] = [e for e in ctx.gateway.events_since(since, ["invoice.paid"]) if e.id == paid.id]

    outcome = process_event(ctx.sessions, event, currency="usd")

    assert outcome.outcome == "amount_mismatch"
    assert payment_of(ctx, job_id) == ("pending", PRICE, None)
