"""An admin cancels a job that was not paid (its invoice voided in Stripe, resumable, never
paid into earnings afterwards) and books a job on a customer's behalf; against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.billing.admin_actions import attach_invoice, cancel_unpaid_job, record_manual_payment
from core.billing.reconcile import drift_report
from core.billing.repairs import repair_all
from core.context import AppContext
from core.db.models import AuditLog, Job, Payment, Service, ServiceProvider, StripeEvent
from core.db.session import session_scope
from core.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from core.identity.actor import Actor
from core.jobs.lifecycle import create_job_for_customer, offered_services
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, invoiced_job, job_for
from tests.support.sandbox import SandboxControl

ADMIN = Actor("admin", 1)
PRICE = 15000
SDK_ATTEMPTS = 3  # the gateway's SDK client: one call plus two network retries


def state(ctx: AppContext, job_id: int) -> tuple[str, str, int]:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        assert job is not None
        return job.status, payment.status, payment.amount


def audit_rows(ctx: AppContext, job_id: int) -> list[tuple[str, str, str | None]]:
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(AuditLog.action, AuditLog.result, AuditLog.reason)
            .where(AuditLog.job_id == job_id, AuditLog.action.startswith("job."))
            .order_by(AuditLog.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def stripe_status(sandbox: SandboxControl, invoice_id: str) -> str:
    return str(sandbox.client.v1.invoices.retrieve(invoice_id).status)


def provider_totals(ctx: AppContext, provider_id: int) -> tuple[int, int]:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        return provider.earnings, provider.total_jobs


def test_cancel_previews_then_cancels_a_completed_job_and_voids_its_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)

    preview = cancel_unpaid_job(
        ctx, job_id=job_id, actor=ADMIN, reason="customer moved", preview=True
    )

    assert preview.applied is False and preview.message == "Preview only: nothing was changed."
    assert preview.changes == ["Job: completed → cancelled", f"Invoice: {invoice_id} voided"]
    assert state(ctx, job_id) == ("completed", "pending", PRICE)
    assert stripe_status(sandbox, invoice_id) == "open"

    done = cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="customer moved")

    assert done.applied and done.finished
    assert (
        done.message == f"Job #{job_id} is cancelled; invoice {invoice_id} can no longer be paid."
    )
    assert state(ctx, job_id) == ("cancelled", "pending", PRICE)
    assert stripe_status(sandbox, invoice_id) == "void"
    assert audit_rows(ctx, job_id) == [
        ("job.completed", "ok", None),
        ("job.cancelled", "ok", "customer moved"),
    ]
    with pytest.raises(AppError):  # the customer's link no longer takes a payment
        ctx.gateway.pay_test_invoice(invoice_id, card="visa")
    assert drift_report(ctx, actor=ADMIN).drifts == []
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="again")


def test_a_new_job_is_cancelled_without_calling_stripe(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    calls = sum(sandbox.request_counts().values())

    done = cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="booked twice")

    assert done.message == f"Job #{job_id} is cancelled; it had no open invoice."
    assert state(ctx, job_id) == ("cancelled", "pending", 0)
    assert sum(sandbox.request_counts().values()) == calls


def test_cancel_needs_a_reason_and_an_admin_and_refuses_a_paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    for blank in ("", "   "):
        with pytest.raises(InvalidInput, match="reason is required"):
            cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason=blank)
    for outsider in (market.provider, Actor("finance", 3), Actor("customer", market.customer_id)):
        with pytest.raises(Forbidden):
            cancel_unpaid_job(ctx, job_id=job_id, actor=outsider, reason="no")
    with pytest.raises(NotFound):
        cancel_unpaid_job(ctx, job_id=job_id + 100, actor=ADMIN, reason="no")
    assert state(ctx, job_id) == ("completed", "pending", PRICE)
    assert audit_rows(ctx, job_id) == [("job.completed", "ok", None)]

    record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cash")
    with pytest.raises(Conflict, match="a paid job cannot be cancelled"):
        cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="too late")
    assert state(ctx, job_id) == ("paid", "received", PRICE)
    assert stripe_status(sandbox, invoice_id) == "paid"


@pytest.mark.parametrize("finish", ["run it again", "reconciliation"])
def test_a_cancel_whose_void_fails_is_finished_later(
    ctx: AppContext, sandbox: SandboxControl, market: Market, finish: str
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    sandbox.fault("/v1/invoices/*/void", method="POST", status=500, count=SDK_ATTEMPTS)

    half = cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="duplicate booking")

    assert half.applied and not half.finished
    assert f"invoice {invoice_id} is still payable" in half.message
    assert state(ctx, job_id) == ("cancelled", "pending", PRICE)
    assert stripe_status(sandbox, invoice_id) == "open"
    assert audit_rows(ctx, job_id)[-2:] == [
        ("job.cancelled", "ok", "duplicate booking"),
        ("job.cancelled.stripe", "failed", "duplicate booking"),
    ]
    [drift] = drift_report(ctx, actor=ADMIN).drifts
    assert (drift.kind, drift.job_id, drift.repairable) == ("refused_invoice", job_id, True)
    assert drift.fix == f"job #{job_id} is cancelled: void it"

    if finish == "run it again":
        done = cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="duplicate booking")
        assert done.finished and "was already cancelled" in done.message
        assert audit_rows(ctx, job_id)[-1] == ("job.cancelled.stripe", "ok", "duplicate booking")
    else:
        [result] = repair_all(
            ctx, drift_report(ctx, actor=ADMIN), actor=ADMIN, reason="nightly check"
        )
        assert result.ok, result.message

    assert stripe_status(sandbox, invoice_id) == "void"
    assert state(ctx, job_id) == ("cancelled", "pending", PRICE)
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_a_cancelled_jobs_invoice_paid_later_is_never_paid_into_earnings(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """The void did not reach Stripe and the customer pays the old link: the webhook
    refuses the payment (`job_cancelled`), nothing is credited, and a person is asked to
    refund it."""
    job_id, invoice_id = invoiced_job(ctx, market)
    assert sandbox.drain() == 0
    sandbox.fault("/v1/invoices/*/void", method="POST", status=500, count=SDK_ATTEMPTS)
    assert not cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="no show").finished

    ctx.gateway.pay_test_invoice(invoice_id, card="visa")
    assert sandbox.drain() == 0

    with session_scope(ctx.sessions) as session:
        outcomes = list(
            session.scalars(
                select(StripeEvent.outcome).where(
                    StripeEvent.job_id == job_id, StripeEvent.type == "invoice.paid"
                )
            )
        )
        assert ledger_mismatches(session) == []
    assert outcomes == ["job_cancelled"]
    assert state(ctx, job_id) == ("cancelled", "pending", PRICE)
    assert provider_totals(ctx, market.provider_id) == (0, 0)
    [drift] = drift_report(ctx, actor=ADMIN).drifts
    assert (drift.kind, drift.repairable) == ("refused_invoice", False)
    assert "refund it in Stripe" in drift.fix
    with pytest.raises(Conflict, match="already paid in Stripe"):
        cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="no show")
    # Nor can the money reach the cancelled job by hand.
    with pytest.raises(Conflict, match="is cancelled"):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cash")
    with pytest.raises(Conflict, match="is cancelled"):
        attach_invoice(ctx, invoice_id=invoice_id, job_id=job_id, actor=ADMIN, reason="mine")
    assert state(ctx, job_id) == ("cancelled", "pending", PRICE)
    assert provider_totals(ctx, market.provider_id) == (0, 0)


# Booking on a customer's behalf


def job_count(ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_an_admin_books_a_job_for_a_customer_with_its_audit_row(
    ctx: AppContext, market: Market
) -> None:
    job_for(ctx, market)  # the provider has done this service before: they offer it

    job_id = create_job_for_customer(
        ctx,
        actor=ADMIN,
        customer_id=market.customer_id,
        provider_id=market.provider_id,
        service_id=market.service_id,
        price=17500,
        description="  Dripping tap  ",
    )

    assert state(ctx, job_id) == ("new", "pending", 0)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.customer_id, job.price, job.description) == (
            market.customer_id,
            17500,
            "Dripping tap",
        )
        [entry] = session.scalars(select(AuditLog).where(AuditLog.job_id == job_id)).all()
    assert (entry.actor, entry.action, entry.result) == ("admin:1", "job.created", "ok")
    assert entry.after == {
        "customer": "Ann Lee",
        "provider": "Rivera Plumbing",
        "service": "Plumbing",
        "price": 17500,
        "description": "Dripping tap",
    }


def test_booking_for_a_customer_is_validated_and_changes_nothing_when_refused(
    ctx: AppContext, market: Market
) -> None:
    job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        other = Service(name="Lawn Mowing", category="Outdoor", base_price=6500)
        session.add(other)
        session.flush()
        other_id = other.id
        assert offered_services(session, market.provider_id) == {market.service_id: "Plumbing"}
    count = job_count(ctx)
    fields: dict[str, Any] = {
        "customer_id": market.customer_id,
        "provider_id": market.provider_id,
        "service_id": market.service_id,
        "price": PRICE,
    }
    refusals: list[tuple[type[Exception], str, Actor, dict[str, Any]]] = [
        (
            InvalidInput,
            "Rivera Plumbing does not offer Lawn Mowing; they offer Plumbing.",
            ADMIN,
            {"service_id": other_id},
        ),
        (InvalidInput, "price must be between \\$0.50", ADMIN, {"price": 49}),
        (InvalidInput, "price must be between", ADMIN, {"price": 10_000_001}),
        (InvalidInput, "2000 characters", ADMIN, {"description": "x" * 2001}),
        (NotFound, "No customer #9999", ADMIN, {"customer_id": 9999}),
        (NotFound, "No provider #9999", ADMIN, {"provider_id": 9999}),
        (Forbidden, "Only admins", Actor("customer", market.customer_id), {}),
        (Forbidden, "Only admins", market.provider, {}),
        (Forbidden, "Only admins", Actor("finance", 2), {}),
    ]
    for error, message, actor, changed in refusals:
        with pytest.raises(error, match=message):
            create_job_for_customer(ctx, actor=actor, **{**fields, **changed})
    assert job_count(ctx) == count
