"""Admin fixes by hand: a payment taken outside Stripe, and void-and-re-issue.

Each needs a reason, can be previewed (before and after, nothing changed), and is
written to the audit log with who, when, what, before, after and the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.audit import record_now
from core.billing.invoice_copies import (
    forget_invoice_now,
    remember_invoice,
    remember_invoice_now,
)
from core.billing.invoicing import job_invoice, send_invoice
from core.billing.payments import credit_payment
from core.context import AppContext
from core.db.models import Job, Payment, utcnow
from core.db.session import session_scope
from core.errors import AppError, Conflict, InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import Action, load_job, require
from core.money import check_price


@dataclass(frozen=True)
class ActionResult:
    applied: bool  # False for a preview
    before: dict[str, Any]
    after: dict[str, Any]
    message: str


def _check(actor: Actor, action: Action, reason: str) -> None:
    require(actor, action)
    if not reason.strip():
        raise InvalidInput("a reason is required")


def _state(ctx: AppContext, job_id: int, actor: Actor) -> dict[str, Any]:
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)
        return {
            "job_status": job.status,
            "price": job.price,
            "payment_status": job.payment.status,
            "payment_amount": job.payment.amount,
            "method": job.payment.method,
        }


def _owed(ctx: AppContext, job_id: int, actor: Actor, doing: str) -> dict[str, Any]:
    """The job's state, if it is completed and still unpaid; Conflict otherwise."""
    state = _state(ctx, job_id, actor)
    if state["job_status"] != "completed" or state["payment_status"] != "pending":
        raise Conflict(
            f"Job #{job_id} is {state['job_status']}; only a completed, unpaid job {doing}"
        )
    return state


def record_manual_payment(
    ctx: AppContext, *, job_id: int, actor: Actor, reason: str, preview: bool = False
) -> ActionResult:
    """Cash or cheque: the payment is received here (method manual) and the invoice is
    marked paid outside Stripe, so both sides agree and the invoice.paid event that
    follows changes nothing more."""
    _check(actor, "payment.manual", reason)
    before = _owed(ctx, job_id, actor, "can be marked paid")
    invoice = job_invoice(ctx, job_id=job_id, actor=actor)
    if invoice is not None and invoice.status == "paid":
        raise Conflict(
            f"Job #{job_id}'s invoice is already paid in Stripe; apply that payment from "
            "the drift report instead"
        )
    after = {
        **before,
        "job_status": "paid",
        "payment_status": "received",
        "method": "manual",
        "invoice": f"{invoice.invoice_id} marked paid outside Stripe"
        if invoice and invoice.status == "open"
        else "no open invoice",
    }
    if preview:
        return ActionResult(False, before, after, "preview: nothing changed")
    # Mark the payment as one taken by hand before Stripe hears of it, so the invoice.paid
    # that Stripe sends (maybe before we finish) credits it as "manual", not as a card
    # payment. A failure at Stripe takes the mark back: nothing changes.
    pending = (Payment.job_id == job_id) & (Payment.status == "pending")
    with session_scope(ctx.sessions) as session:
        session.query(Payment).filter(pending).update({"method": "manual"})
    try:
        if invoice is not None and invoice.status == "open":
            paid = ctx.gateway.pay_out_of_band(invoice.invoice_id)
            remember_invoice_now(ctx.sessions, paid)
    except AppError as error:
        with session_scope(ctx.sessions) as session:
            session.query(Payment).filter(pending, Payment.method == "manual").update(
                {"method": None}
            )
        record_now(
            ctx.sessions,
            actor=actor,
            action="payment.manual",
            job_id=job_id,
            reason=reason,
            before=before,
            result="failed",
            error=error.message,
        )
        raise
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.query(Payment).filter_by(job_id=job_id).one()
        assert job is not None
        credited = credit_payment(session, job, payment, paid_at=utcnow(), method="manual")
    now = _state(ctx, job_id, actor)
    # Stripe's invoice.paid may have credited it first; the mark kept its method manual.
    recorded = credited or (now["payment_status"], now["method"]) == ("received", "manual")
    message = "payment recorded" if recorded else "already received; nothing changed"
    record_now(
        ctx.sessions,
        actor=actor,
        action="payment.manual",
        job_id=job_id,
        reason=reason,
        before=before,
        after=now,
    )
    return ActionResult(True, before, after, message)


def void_and_reissue(
    ctx: AppContext,
    *,
    job_id: int,
    new_price: int,
    actor: Actor,
    reason: str,
    preview: bool = False,
) -> ActionResult:
    """A wrong amount: void the open invoice, correct the job's price, send a new one."""
    _check(actor, "invoice.reissue", reason)
    check_price(new_price)
    before = _owed(ctx, job_id, actor, "can have its invoice re-issued")
    current = job_invoice(ctx, job_id=job_id, actor=actor)
    replaced = {"open": "void", "draft": "delete"}.get(current.status) if current else None
    after = {
        **before,
        "price": new_price,
        "payment_amount": new_price,
        "invoice": f"{replaced} {current.invoice_id}, send a new one"
        if current and replaced
        else "send a new one",
    }
    if preview:
        return ActionResult(False, before, after, "preview: nothing changed")
    try:
        if current is not None and current.status == "open":
            voided = ctx.gateway.void_invoice(current.invoice_id)
            with session_scope(ctx.sessions) as session:
                remember_invoice(session, voided)
        elif current is not None and current.status == "draft":
            # A draft (left by a failed invoicing) cannot be voided; it is deleted, as in
            # Stripe, so the new invoice carries the new price.
            ctx.gateway.delete_draft(current.invoice_id)
            forget_invoice_now(ctx.sessions, current.invoice_id)
        elif current is not None and current.status == "paid":
            raise Conflict(f"Job #{job_id}'s invoice is already paid in Stripe")
        with session_scope(ctx.sessions) as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.price = new_price
            session.query(Payment).filter_by(job_id=job_id, status="pending").update(
                {"amount": new_price}
            )
        invoice = send_invoice(ctx, job_id=job_id, actor=actor)
    except AppError as error:
        record_now(
            ctx.sessions,
            actor=actor,
            action="invoice.reissue",
            job_id=job_id,
            reason=reason,
            before=before,
            after=_state(ctx, job_id, actor),  # what did change before the failure
            result="failed",
            error=error.message,
        )
        raise
    record_now(
        ctx.sessions,
        actor=actor,
        action="invoice.reissue",
        job_id=job_id,
        reason=reason,
        before=before,
        after={**_state(ctx, job_id, actor), "invoice": invoice.invoice_id},
    )
    return ActionResult(
        True, before, after, f"new invoice {invoice.number or invoice.invoice_id} sent"
    )
