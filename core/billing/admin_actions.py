"""Admin fixes by hand: a payment taken outside Stripe, and void-and-re-issue.

Each needs a reason, can be previewed (before and after, nothing changed), and is
written to the audit log with who, when, what, before, after and the result, in the
transaction that makes the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.audit import record, record_now
from core.billing.invoice_copies import (
    forget_invoice_now,
    hold_for_job,
    lock_job,
    remember_invoice_now,
)
from core.billing.invoicing import job_invoice, send_invoice
from core.billing.payments import apply_invoice_payment, credit_payment
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
    marked paid outside Stripe, so both sides agree and the invoice.paid that follows
    changes nothing more.

    Two steps, each done or resumable: (1) the credit, its method and its audit row in one
    transaction; (2) Stripe told, with an idempotency key. A crash or a Stripe failure
    between them leaves "paid here by hand, open in Stripe", which running this again or
    reconciliation (`paid_here_not_in_stripe`) finishes.
    """
    _check(actor, "payment.manual", reason)
    state = _state(ctx, job_id, actor)
    resuming = (state["payment_status"], state["method"]) == ("received", "manual")
    before = state if resuming else _owed(ctx, job_id, actor, "can be marked paid")
    invoice = job_invoice(ctx, job_id=job_id, actor=actor)
    if invoice is not None and invoice.status == "paid" and not resuming:
        raise Conflict(
            f"Job #{job_id}'s invoice is already paid in Stripe; apply that payment from "
            "the drift report instead"
        )
    open_invoice = invoice.invoice_id if invoice and invoice.status == "open" else None
    if resuming and open_invoice is None:
        raise Conflict(f"Job #{job_id} is already paid (recorded by hand); nothing is left to do")
    after = {
        **before,
        "job_status": "paid",
        "payment_status": "received",
        "method": "manual",
        "invoice": f"{open_invoice} marked paid outside Stripe"
        if open_invoice
        else "no open invoice",
    }
    if preview:
        return ActionResult(False, before, after, "preview: nothing changed")
    message = (
        "already recorded"
        if resuming
        else _credit_by_hand(ctx, job_id, actor, reason, before=before, after=after)
    )
    if open_invoice is None:
        return ActionResult(True, before, after, message)
    try:
        paid = ctx.gateway.pay_out_of_band(open_invoice)
    except AppError as error:
        record_now(
            ctx.sessions,
            actor=actor,
            action="payment.manual.stripe",
            job_id=job_id,
            reason=reason,
            result="failed",
            error=error.message,
        )
        return ActionResult(
            True,
            before,
            after,
            f"{message}; Stripe was not told yet ({error.message}): run this again, or "
            "reconciliation marks the invoice paid outside Stripe",
        )
    remember_invoice_now(ctx.sessions, paid)
    return ActionResult(True, before, after, f"{message}; {paid.id} marked paid outside Stripe")


def _credit_by_hand(
    ctx: AppContext,
    job_id: int,
    actor: Actor,
    reason: str,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
) -> str:
    """Step one of a manual payment: credit, method and audit row, together."""
    with session_scope(ctx.sessions) as session:
        lock_job(session, job_id)
        job = session.get(Job, job_id)
        payment = session.query(Payment).filter_by(job_id=job_id).one()
        assert job is not None
        if not credit_payment(session, job, payment, paid_at=utcnow(), method="manual"):
            return "already received; nothing changed"
        record(
            session,
            actor=actor,
            action="payment.manual",
            job_id=job_id,
            reason=reason,
            before=before,
            after={key: value for key, value in after.items() if key != "invoice"},
        )
    return "payment recorded"


def void_and_reissue(
    ctx: AppContext,
    *,
    job_id: int,
    new_price: int,
    actor: Actor,
    reason: str,
    preview: bool = False,
) -> ActionResult:
    """A wrong amount: void the open invoice, correct the job's price, send a new one.

    Each step is done or resumable: the void (Stripe, keyed), then the new price with its
    audit row (one transaction), then invoicing (resumable by "send invoice" and by
    reconciliation). Running it again after a crash finishes the same re-issue.
    """
    _check(actor, "invoice.reissue", reason)
    check_price(new_price, ctx.settings.currency)
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
        if current is not None and current.status == "paid":
            raise Conflict(f"Job #{job_id}'s invoice is already paid in Stripe")
        if current is not None and current.status == "open":
            voided = ctx.gateway.void_invoice(current.invoice_id)
            remember_invoice_now(ctx.sessions, voided)
        elif current is not None and current.status == "draft":
            # A draft (left by a failed invoicing) cannot be voided; it is deleted, as in
            # Stripe, so the new invoice carries the new price.
            ctx.gateway.delete_draft(current.invoice_id)
            forget_invoice_now(ctx.sessions, current.invoice_id)
    except AppError as error:
        record_now(
            ctx.sessions,
            actor=actor,
            action="invoice.reissue",
            job_id=job_id,
            reason=reason,
            before=before,
            result="failed",
            error=error.message,
        )
        raise
    with session_scope(ctx.sessions) as session:
        lock_job(session, job_id)
        job = session.get(Job, job_id)
        assert job is not None
        job.price = new_price
        session.query(Payment).filter_by(job_id=job_id, status="pending").update(
            {"amount": new_price}
        )
        record(
            session,
            actor=actor,
            action="invoice.reissue",
            job_id=job_id,
            reason=reason,
            before=before,
            after={**before, "price": new_price, "payment_amount": new_price},
        )
    # Invoicing records its own outcome; a failure here leaves a completed job with no
    # live invoice, which "send invoice" or reconciliation finishes.
    invoice = send_invoice(ctx, job_id=job_id, actor=actor)
    return ActionResult(
        True, before, after, f"new invoice {invoice.number or invoice.invoice_id} sent"
    )


def attach_invoice(
    ctx: AppContext, *, invoice_id: str, job_id: int, actor: Actor, reason: str
) -> ActionResult:
    """A paid Stripe invoice whose metadata names the wrong job (or none of ours): credit it
    to the right job. The same cross-checks as a webhook apply (the job customer's Stripe
    customer, our currency, the job's amount, a completed unpaid job), the credit and its
    audit row share one transaction, and our copy of the invoice is held for that job from
    then on, so reconciliation counts it there."""
    _check(actor, "payment.manual", reason)
    before = _owed(ctx, job_id, actor, "can have a payment attached")
    invoice = ctx.gateway.retrieve_invoice(invoice_id)
    if invoice.status != "paid":
        raise Conflict(f"{invoice_id} is {invoice.status}; only a paid invoice can be attached")
    entry: dict[str, Any] = {
        "actor": actor,
        "action": "payment.attach",
        "reason": reason,
        "before": before,
        "after": {"payment_status": "received", "method": "stripe", "invoice": invoice_id},
    }
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.query(Payment).filter_by(job_id=job_id).one()
        assert job is not None
        outcome = apply_invoice_payment(
            session,
            job=job,
            payment=payment,
            invoice=invoice,
            paid_at=invoice.paid_at or utcnow(),
            currency=ctx.settings.currency,
            audit_entry=entry,
        )
        if outcome.outcome != "applied":
            session.rollback()
            raise Conflict(f"{invoice_id} cannot be attached to job #{job_id}: {outcome.detail}")
        hold_for_job(session, invoice, job_id=job_id, payment_id=payment.id)
    return ActionResult(
        True, before, dict(entry["after"]), f"{invoice_id} credited to job #{job_id}"
    )
