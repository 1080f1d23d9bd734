"""Find and repair every drift between our database and Stripe.

The report reads our completed and paid jobs in one query and Stripe's invoices in bulk
(listed by creation date, 100 a page), never one search per job. Each kind of drift has
a repair that goes through the same code as the webhook handlers and invoicing, so a
repaired job ends exactly as a clean run would have left it; repairs are idempotent and
a second report finds nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import record_now
from core.billing.invoice_copies import (
    InvoiceRecord,
    current_copy,
    forget_invoice_now,
    invoice_records,
    pick_current,
    remember_invoice,
)
from core.billing.invoice_status import CLOSED, LIVE
from core.billing.invoicing import job_invoice, oldest_first, send_invoice
from core.billing.payments import apply_invoice_payment, mismatch
from core.billing.stripe_gateway import InvoiceInfo, MissingInStripe
from core.context import AppContext
from core.db.models import Job, Payment, StripeCustomer, utcnow
from core.db.session import session_scope
from core.errors import AppError, InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require

log = logging.getLogger("core.billing.reconcile")

KINDS = {
    "missed_payment": "Paid in Stripe, pending here",
    "missing_invoice": "Completed here, no live invoice in Stripe",
    "closed_in_stripe": "Void or uncollectible in Stripe, still owed here",
    "duplicate_invoices": "More than one live invoice for the job",
    "amount_mismatch": "Stripe's amount differs from the payment's",
    "paid_here_not_in_stripe": "Paid here, not paid in Stripe",
    "stale_draft": "Draft invoice left behind",
    "never_sent": "Open invoice the customer was never sent",
    "refused_invoice": "A Stripe invoice our webhooks refused or could not place",
}
STALE_DRAFT_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Drift:
    kind: str
    job_id: int
    ours: str
    stripes: str
    fix: str
    invoice_ids: tuple[str, ...] = ()
    repairable: bool = True
    keeps: str | None = None  # the job's current invoice, which the fix leaves alone

    @property
    def title(self) -> str:
        return KINDS[self.kind]


@dataclass
class DriftReport:
    drifts: list[Drift]
    jobs_checked: int
    invoices_read: int
    since: datetime | None


@dataclass(frozen=True)
class _Ours:
    job_id: int
    job_status: str
    payment_id: int
    amount: int
    payment_status: str
    method: str | None
    stripe_customer: str | None  # our record of the job customer's Stripe customer


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def drift_report(
    ctx: AppContext,
    *,
    actor: Actor,
    since: datetime | None = None,
    now: datetime | None = None,
    draft_age: timedelta = STALE_DRAFT_AGE,
) -> DriftReport:
    """Every disagreement between our completed/paid jobs and Stripe's invoices, and every
    live Stripe invoice naming a job that cannot take it."""
    require(actor, "reconcile")
    now = now or utcnow()
    with session_scope(ctx.sessions) as session:
        query = (
            select(
                Job.id,
                Job.status,
                Payment.id,
                Payment.amount,
                Payment.status,
                Payment.method,
                StripeCustomer.stripe_customer_id,
            )
            .join(Payment, Payment.job_id == Job.id)
            .outerjoin(StripeCustomer, StripeCustomer.customer_id == Job.customer_id)
            .where(Job.status.in_(("completed", "paid")))
        )
        if since is not None:
            query = query.where(Job.completed_at >= since)
        ours = {row[0]: _Ours(*row) for row in session.execute(query)}
        records = invoice_records(session, since)
    invoices: dict[int, list[InvoiceInfo]] = defaultdict(list)
    elsewhere: list[InvoiceInfo] = []
    read = 0
    for invoice in ctx.gateway.list_invoices(created_from=since):  # newest first
        read += 1
        # Our copy says which job we hold an invoice for; metadata is the fallback.
        record = records.get(invoice.id)
        job_id = record.job_id if record is not None else invoice.job_id
        if job_id in ours:
            invoices[job_id].append(invoice)
        elif (job_id is not None or invoice.payment_id is not None) and invoice.status in LIVE:
            elsewhere.append(invoice)
    currency = ctx.settings.currency
    drifts: list[Drift] = []
    for job in ours.values():
        found = oldest_first(invoices.get(job.job_id, []))
        drifts.extend(_job_drifts(job, found, now - draft_age, records, currency))
    drifts.extend(_unplaced(ctx, elsewhere))
    return DriftReport(drifts, len(ours), read, since)


def _refused_drift(job_id: int, ours: str, invoice: InvoiceInfo, why: str) -> Drift:
    if invoice.status == "paid":
        fix = (
            f"{why}: refund it in Stripe, or attach it to the right job with a reason "
            f"(core.cli attach-invoice {invoice.id} JOB_ID)"
        )
        return Drift(
            "refused_invoice", job_id, ours, _described(invoice), fix, (invoice.id,), False
        )
    return Drift(
        "refused_invoice", job_id, ours, _described(invoice), f"{why}: void it", (invoice.id,)
    )


def _described(invoice: InvoiceInfo) -> str:
    amount = invoice.amount_paid if invoice.status == "paid" else invoice.amount_due
    return f"{invoice.id} {invoice.status} {_money(amount)} ({invoice.currency.upper()})"


def _unplaced(ctx: AppContext, invoices: list[InvoiceInfo]) -> list[Drift]:
    """Live invoices whose metadata names no completed or paid job of ours."""
    named = {i.job_id for i in invoices if i.job_id is not None}
    with session_scope(ctx.sessions) as session:
        statuses = (
            dict(
                session.execute(select(Job.id, Job.status).where(Job.id.in_(named))).tuples().all()
            )
            if named
            else {}
        )
    drifts = []
    for invoice in invoices:
        status = statuses.get(invoice.job_id) if invoice.job_id is not None else None
        if status in ("completed", "paid"):
            continue  # a job outside this report's window
        why = (
            f"job #{invoice.job_id} is {status}"
            if status
            else f"its metadata names no job of ours (job_id={invoice.job_id})"
        )
        ours = f"job {status}" if status else "no such job"
        drifts.append(_refused_drift(invoice.job_id or 0, ours, invoice, why))
    return drifts


def _job_drifts(
    job: _Ours,
    stripes_invoices: list[InvoiceInfo],
    draft_cutoff: datetime,
    records: dict[str, InvoiceRecord],
    currency: str,
) -> list[Drift]:
    ours = f"job {job.job_status}, payment {job.payment_status} {_money(job.amount)}"
    drifts: list[Drift] = []
    found: list[InvoiceInfo] = []
    for invoice in stripes_invoices:
        # The webhook's cross-checks: an invoice that fails them is not the job's to count.
        why = mismatch(invoice, job_id=job.job_id, customer=job.stripe_customer, currency=currency)
        if why is None and invoice.status == "paid" and invoice.amount_paid != job.amount:
            why = (
                f"it was paid {_money(invoice.amount_paid)}; "
                f"job #{job.job_id} is for {_money(job.amount)}"
            )
        if why is not None and invoice.status in LIVE:
            drifts.append(_refused_drift(job.job_id, ours, invoice, why))
        elif why is None:
            found.append(invoice)
    live = [i for i in found if i.status in LIVE]
    paid = [i for i in found if i.status == "paid"]
    drafts = [i for i in found if i.status == "draft"]
    closed = [i for i in found if i.status in CLOSED]
    sent = {i: r.sent_at for i, r in records.items() if r.sent_at is not None}

    def add(
        kind: str,
        stripes: str,
        fix: str,
        ids: list[InvoiceInfo],
        repairable: bool = True,
        keeps: str | None = None,
    ) -> None:
        drifts.append(
            Drift(kind, job.job_id, ours, stripes, fix, tuple(i.id for i in ids), repairable, keeps)
        )

    if job.payment_status == "pending":
        if paid:
            add(
                "missed_payment",
                f"{paid[0].id} paid {_money(paid[0].amount_paid)}",
                "apply the payment, as the missed invoice.paid would have",
                paid[:1],
            )
        elif not live and closed and not drafts:
            add(
                "closed_in_stripe",
                ", ".join(f"{i.id} {i.status}" for i in closed),
                "send a new invoice",
                closed,
            )
        elif not live:
            stripes = f"draft {drafts[0].id}" if drafts else "no invoice"
            add(
                "missing_invoice",
                stripes,
                "finish the draft and send it" if drafts else "send the invoice",
                drafts[:1],
            )
        wrong = [i for i in live if i.amount_due != job.amount]
        for invoice in wrong:
            add(
                "amount_mismatch",
                f"{invoice.id} for {_money(invoice.amount_due)}",
                f"void it and re-issue for {_money(job.amount)}",
                [invoice],
            )
        current = pick_current(live, sent)
        if (
            not paid
            and current is not None
            and current.status == "open"
            and current not in wrong
            and current.id not in sent
        ):
            # Finalized and open, but our send record (and Stripe's invoice.sent) never
            # saw it go out: the customer has no e-mail to pay from.
            add(
                "never_sent",
                f"{current.id} open, never sent",
                "send it to the customer",
                [current],
            )
    else:
        open_ones = [i for i in live if i.status == "open"]
        if not paid and job.method == "manual" and open_ones:
            add(
                "paid_here_not_in_stripe",
                f"{open_ones[0].id} open",
                "mark it paid outside Stripe",
                open_ones[:1],
            )
        elif not paid and job.method == "stripe":
            stripes = ", ".join(f"{i.id} {i.status}" for i in found) or "no invoice"
            add(
                "paid_here_not_in_stripe",
                stripes,
                "check in Stripe by hand: a received payment is never reversed here",
                found,
                repairable=False,
            )
    if len(live) > 1:
        # Keep the invoice that counts (the one the customer is shown), by the one rule.
        keep = pick_current(live, sent)
        assert keep is not None
        extra = [i for i in live if i.id != keep.id]
        add(
            "duplicate_invoices",
            ", ".join(f"{i.id} {i.status}" for i in live),
            f"keep {keep.id}, void {', '.join(i.id for i in extra)}",
            extra,
            keeps=keep.id,
        )
    handled_drafts = job.payment_status == "pending" and not live
    if not handled_drafts:
        old = [d for d in drafts if d.created < draft_cutoff]
        if old:
            add("stale_draft", ", ".join(d.id for d in old), "delete the draft(s)", old)
    return drifts


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
    log.info("reconcile.repaired kind=%s job_id=%s", drift.kind, drift.job_id)
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
}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """ "7d", "24h", "30m" back from now, or an ISO date or time."""
    now = now or utcnow()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"a start takes 7d, 24h, 30m or a date like 2026-11-01, not {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
