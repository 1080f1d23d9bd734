"""Repairs for the drifts `core.billing.reconcile` reports, each through the same code as
the webhook handlers and invoicing, so a repaired job ends exactly as a clean run would
have left it. Repairs are idempotent, need a reason, and are written to the audit log
(in the transaction that moves money, where they move any)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import record, record_now
from core.billing.invoice_copies import current_copy, forget_invoice_now, remember_invoice
from core.billing.invoice_status import LIVE
from core.billing.invoicing import job_invoice, send_invoice
from core.billing.money_back_drift import apply_fix, describe
from core.billing.payments import apply_invoice_payment
from core.billing.reconcile import Drift, DriftReport
from core.billing.stripe_gateway import MissingInStripe
from core.context import AppContext
from core.db.models import Job, Payment, utcnow
from core.db.session import session_scope
from core.errors import AppError, Conflict, InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require

log = logging.getLogger("core.billing.repairs")


@dataclass
class RepairResult:
    drift: Drift
    ok: bool
    message: str


@dataclass
class _Audit:
    """The audit row of one repair; a repair that changes money writes it in its own
    transaction (`write`), the others get it written after they succeed."""

    fields: dict[str, Any]
    written: bool = False

    def write(self, session: Session, *, after: dict[str, Any]) -> dict[str, Any]:
        self.written = True
        return {**self.fields, "after": after}


def repair(ctx: AppContext, drift: Drift, *, actor: Actor, reason: str) -> RepairResult:
    """Apply the drift's fix and write it to the audit log; safe to run twice."""
    require(actor, "reconcile")
    if not reason.strip():
        raise InvalidInput("every repair needs a reason")
    if not drift.repairable:
        return RepairResult(drift, False, drift.fix)
    entry = _Audit(
        {
            "actor": actor,
            "action": f"reconcile.{drift.kind}",
            "reason": reason,
            "before": {"ours": drift.ours, "stripe": drift.stripes},
        }
    )
    try:
        message = _REPAIRS[drift.kind](ctx, drift, entry)
    except AppError as error:
        record_now(
            ctx.sessions,
            **entry.fields,
            job_id=drift.job_id,
            result="failed",
            error=error.message,
        )
        return RepairResult(drift, False, error.message)
    if not entry.written:
        record_now(ctx.sessions, **entry.fields, job_id=drift.job_id, after={"done": message})
    log.info("reconcile.repaired", extra={"kind": drift.kind, "job_id": drift.job_id})
    return RepairResult(drift, True, message)


def repair_all(
    ctx: AppContext,
    report: DriftReport,
    *,
    actor: Actor,
    reason: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[RepairResult]:
    results = []
    for index, drift in enumerate(report.drifts, start=1):
        results.append(repair(ctx, drift, actor=actor, reason=reason))
        if progress is not None:
            progress(index, len(report.drifts))
    return results


def _apply_missed_payment(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    invoice = ctx.gateway.retrieve_invoice(drift.invoice_ids[0])  # as Stripe has it now
    if invoice.status != "paid":
        return f"{invoice.id} is {invoice.status} now; nothing to apply"
    with session_scope(ctx.sessions) as session:
        remember_invoice(session, invoice)
        job = session.get(Job, drift.job_id)
        payment = session.scalar(select(Payment).where(Payment.job_id == drift.job_id))
        if job is None or payment is None:
            return "the job is gone"
        outcome = apply_invoice_payment(
            session,
            job=job,
            payment=payment,
            invoice=invoice,
            paid_at=invoice.paid_at or utcnow(),
            currency=ctx.settings.currency,
            audit_entry=entry.write(session, after={"done": f"payment applied from {invoice.id}"}),
        )
        if outcome.outcome != "applied":
            entry.written = False  # nothing credited: the row is written after, as usual
    return f"payment {outcome.outcome}" + (f": {outcome.detail}" if outcome.detail else "")


def _send_invoice(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    actor = entry.fields["actor"]
    current = job_invoice(ctx, job_id=drift.job_id, actor=actor)
    if current is not None and current.status in LIVE:  # fixed since the report was made
        return f"invoice {current.number or current.invoice_id} is already {current.status}"
    result = send_invoice(ctx, job_id=drift.job_id, actor=actor)
    return f"invoice {result.number or result.invoice_id} is {result.status}"


def _send_unsent(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    # Invoicing resumes the open invoice and sends it under its own key (`send:<id>`): a
    # send that did go out before is replayed by Stripe, not e-mailed twice.
    result = send_invoice(ctx, job_id=drift.job_id, actor=entry.fields["actor"])
    return f"invoice {result.number or result.invoice_id} sent"


def _void_extras(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    current = _current_after_refresh(ctx, drift)
    done = []
    for invoice_id in drift.invoice_ids:
        if invoice_id == current:
            done.append(f"kept {invoice_id}: it is the invoice the customer is shown")
            continue
        try:
            invoice = ctx.gateway.retrieve_invoice(invoice_id)
        except MissingInStripe:
            forget_invoice_now(ctx.sessions, invoice_id)
            done.append(f"{invoice_id} is already deleted")
            continue
        if invoice.status == "open":
            voided = ctx.gateway.void_invoice(invoice_id)
            with session_scope(ctx.sessions) as session:
                remember_invoice(session, voided)
            done.append(f"voided {invoice_id}")
        elif invoice.status == "draft":
            ctx.gateway.delete_draft(invoice_id)
            forget_invoice_now(ctx.sessions, invoice_id)
            done.append(f"deleted {invoice_id}")
        else:
            done.append(f"{invoice_id} is {invoice.status}")
    return ", ".join(done)


def _current_after_refresh(ctx: AppContext, drift: Drift) -> str | None:
    """The job's current invoice once our copies hold the invoices this fix looks at."""
    if drift.keeps is None:
        return None  # the fix replaces every invoice it names (a wrong amount, a draft)
    with session_scope(ctx.sessions) as session:
        for invoice_id in (drift.keeps, *drift.invoice_ids):
            try:
                remember_invoice(session, ctx.gateway.retrieve_invoice(invoice_id))
            except MissingInStripe:
                continue
        current = current_copy(session, drift.job_id)
        return current.invoice_id if current else None


def _reissue(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    voided = _void_extras(ctx, drift, entry)
    return f"{voided}; {_send_invoice(ctx, drift, entry)}"


def _pay_out_of_band(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    invoice = ctx.gateway.pay_out_of_band(drift.invoice_ids[0])
    with session_scope(ctx.sessions) as session:
        remember_invoice(session, invoice)
    return f"{invoice.id} marked paid outside Stripe"


def _apply_money_back(ctx: AppContext, drift: Drift, entry: _Audit) -> str:
    """The refund or dispute as Stripe listed it, applied through the webhook's code; it
    only moves our rows forward, so a status that moved on since is found next time."""
    fix = drift.money_back
    if fix is None:
        raise InvalidInput("this drift does not carry Stripe's refund or dispute: compare again")
    with session_scope(ctx.sessions) as session:
        outcome = apply_fix(session, fix, ctx.settings.currency)
        if outcome.outcome in ("amount_mismatch", "orphan"):
            raise Conflict(outcome.detail or outcome.outcome)
        message = describe(fix, outcome)
        if outcome.outcome != "already_applied":
            record(session, job_id=drift.job_id, **entry.write(session, after={"done": message}))
    return message


_REPAIRS: dict[str, Callable[[AppContext, Drift, _Audit], str]] = {
    "missed_payment": _apply_missed_payment,
    "missing_invoice": _send_invoice,
    "closed_in_stripe": _send_invoice,
    "duplicate_invoices": _void_extras,
    "amount_mismatch": _reissue,
    "paid_here_not_in_stripe": _pay_out_of_band,
    "stale_draft": _void_extras,
    "never_sent": _send_unsent,
    "refused_invoice": _void_extras,
    "missed_refund": _apply_money_back,
    "missed_dispute": _apply_money_back,
}
