"""Admin fixes by hand: a payment taken outside Stripe, void-and-re-issue, attaching a
paid invoice to the right job, and cancelling a job that was not paid.

Each needs a reason, can be previewed (before and after, nothing changed), and is
written to the audit log with who, when, what, before, after and the result, in the
transaction that makes the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from core.audit import describe_change, record, record_now
from core.billing.invoice_copies import (
    forget_invoice_now,
    hold_for_job,
    lock_job,
    remember_invoice_now,
)
from core.billing.invoicing import job_invoice, job_invoicing_lock, send_invoice
from core.billing.payments import apply_invoice_payment, credit_payment
from core.context import AppContext
from core.db.models import Job, Payment, StripeInvoice, utcnow
from core.db.session import session_scope
from core.errors import AppError, Conflict, InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import Action, load_job, require
from core.money import check_price

PREVIEW = "Preview only: nothing was changed."


@dataclass(frozen=True)
class ActionResult:
    applied: bool  # False for a preview
    before: dict[str, Any]
    after: dict[str, Any]
    message: str  # a sentence or two for the person who asked
    finished: bool = True  # False: a step is left for running it again or reconciliation

    @property
    def changes(self) -> list[str]:
        """What changes (or would), as lines like "Price: $150.00 → $175.00"."""
        return describe_change(self.before, self.after)


def _check(actor: Actor, action: Action, reason: str) -> None:
    require(actor, action)
    if not reason.strip():
        raise InvalidInput("A reason is required; it is kept in the audit log.")


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
        return ActionResult(False, before, after, PREVIEW)
    message = (
        "The payment was already recorded."
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
            f"{message} Stripe has not been told yet ({error.message}). Run this again, or "
            "reconciliation will mark the invoice paid outside Stripe.",
            finished=False,
        )
    remember_invoice_now(ctx.sessions, paid)
    return ActionResult(
        True, before, after, f"{message} Invoice {paid.id} was marked paid outside Stripe."
    )


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
            return "The payment was already received; nothing changed."
        record(
            session,
            actor=actor,
            action="payment.manual",
            job_id=job_id,
            reason=reason,
            before=before,
            after={key: value for key, value in after.items() if key != "invoice"},
        )
    return "Payment recorded."


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
        return ActionResult(False, before, after, PREVIEW)
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
        True, before, after, f"New invoice {invoice.number or invoice.invoice_id} was sent."
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
        True, before, dict(entry["after"]), f"Invoice {invoice_id} was credited to job #{job_id}."
    )


# A job in these states was not paid and can be cancelled by an admin.
CANCELLABLE = ("new", "completed")
# Invoices of a cancelled job that could still be paid: voided (a draft deleted).
PAYABLE = ("draft", "open", "uncollectible")


def cancel_unpaid_job(
    ctx: AppContext, *, job_id: int, actor: Actor, reason: str, preview: bool = False
) -> ActionResult:
    """Cancel a job that was not paid, and void its invoice so it can never be paid.

    Two steps, each done or resumable: (1) the job cancelled with its audit row, in one
    transaction under the job's lock, so a payment being applied either lands first (and
    the cancel is refused) or finds the job cancelled (and is refused: the webhook answers
    `job_cancelled`, nothing is credited); (2) each payable invoice voided in Stripe
    (keyed `void:<id>`), a draft deleted. A crash or a Stripe failure between them leaves a
    cancelled job with a live invoice, which running this again finishes, and which
    reconciliation lists ("job #N is cancelled: void it").
    """
    _check(actor, "job.cancel_unpaid", reason)
    before = _state(ctx, job_id, actor)
    status = before["job_status"]
    resuming = status == "cancelled"
    if before["payment_status"] == "received" or status == "paid":
        raise Conflict(
            f"Job #{job_id} is paid, and a paid job cannot be cancelled; refund the customer "
            "in Stripe instead."
        )
    if not resuming and status not in CANCELLABLE:
        raise Conflict(f"Job #{job_id} is {status}; only a new or completed job can be cancelled.")
    if status != "new":
        job_invoice(ctx, job_id=job_id, actor=actor)  # our copies as Stripe has them now
    invoices = _unsettled_invoices(ctx, job_id)
    paid = [invoice_id for invoice_id, state in invoices if state == "paid"]
    if paid:
        raise Conflict(
            f"Job #{job_id}'s invoice {paid[0]} is already paid in Stripe; apply that payment "
            "from the drift report instead of cancelling."
        )
    if resuming and not invoices:
        raise Conflict(f"Job #{job_id} is already cancelled and no invoice of it is open.")
    after = {
        **before,
        "job_status": "cancelled",
        "invoice": ", ".join(
            f"{invoice_id} {'deleted' if state == 'draft' else 'voided'}"
            for invoice_id, state in invoices
        )
        or "none to void",
    }
    if preview:
        return ActionResult(False, before, after, PREVIEW)
    # Held while cancelling and voiding: an invoice being made for the job is finished
    # first (and found below), and none is started until the job reads cancelled.
    with job_invoicing_lock(ctx, job_id):
        if not resuming:
            _cancel_here(ctx, job_id, actor, reason, status, before=before, after=after)
            invoices = _unsettled_invoices(ctx, job_id)
        for invoice_id, state in invoices:
            try:
                if state == "draft":
                    ctx.gateway.delete_draft(invoice_id)
                    forget_invoice_now(ctx.sessions, invoice_id)
                else:
                    remember_invoice_now(ctx.sessions, ctx.gateway.void_invoice(invoice_id))
            except AppError as error:
                record_now(
                    ctx.sessions,
                    actor=actor,
                    action="job.cancelled.stripe",
                    job_id=job_id,
                    reason=reason,
                    result="failed",
                    after={"invoice": invoice_id},
                    error=error.message,
                )
                return ActionResult(
                    True,
                    before,
                    after,
                    f"Job #{job_id} is cancelled, but invoice {invoice_id} is still payable "
                    f"in Stripe ({error.message}). Run the cancel again, or reconciliation "
                    "will void it.",
                    finished=False,
                )
    if resuming:
        record_now(
            ctx.sessions,
            actor=actor,
            action="job.cancelled.stripe",
            job_id=job_id,
            reason=reason,
            after={"invoice": after["invoice"]},
        )
    voided = [invoice_id for invoice_id, _ in invoices]
    message = "was already cancelled" if resuming else "is cancelled"
    if voided:
        return ActionResult(
            True,
            before,
            after,
            f"Job #{job_id} {message}; invoice {', '.join(voided)} can no longer be paid.",
        )
    return ActionResult(True, before, after, f"Job #{job_id} {message}; it had no open invoice.")


def _unsettled_invoices(ctx: AppContext, job_id: int) -> list[tuple[str, str]]:
    """Our copies of the job's invoices that are paid or could still be, oldest first."""
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(StripeInvoice.invoice_id, StripeInvoice.status)
            .where(StripeInvoice.job_id == job_id, StripeInvoice.status.in_((*PAYABLE, "paid")))
            .order_by(StripeInvoice.created, StripeInvoice.invoice_id)
        )
        return [(invoice_id, status) for invoice_id, status in rows]


def _cancel_here(
    ctx: AppContext,
    job_id: int,
    actor: Actor,
    reason: str,
    status: str,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Step one of a cancel: the job cancelled and its audit row, together, provided it is
    still as the admin saw it (a job completed or paid meanwhile is looked at again)."""
    with session_scope(ctx.sessions) as session:
        lock_job(session, job_id)
        payment_status = session.scalar(select(Payment.status).where(Payment.job_id == job_id))
        changed = session.execute(
            update(Job).where(Job.id == job_id, Job.status == status).values(status="cancelled")
        )
        if getattr(changed, "rowcount", 0) != 1 or payment_status != "pending":
            raise Conflict(f"Job #{job_id} changed meanwhile; look at it again before cancelling.")
        record(
            session,
            actor=actor,
            action="job.cancelled",
            job_id=job_id,
            reason=reason,
            before=before,
            after=after,
        )
