"""Find and repair every drift between our database and Stripe.

The report reads our completed and paid jobs in one query and Stripe's invoices in bulk
(listed by creation date, 100 a page), never one search per job; then Stripe's refunds
and disputes since the same start, for those our books lack
(core.billing.money_back_drift). Each kind of drift has
a repair that goes through the same code as the webhook handlers and invoicing, so a
repaired job ends exactly as a clean run would have left it; repairs are idempotent and
a second report finds nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.billing.invoice_copies import (
    InvoiceRecord,
    invoice_records,
    pick_current,
)
from core.billing.invoice_status import CLOSED, LIVE
from core.billing.invoicing import oldest_first
from core.billing.money_back_drift import MoneyBackFix, scan
from core.billing.payments import mismatch, paid_for_another_amount
from core.billing.stripe_objects import InvoiceInfo
from core.context import AppContext
from core.db.models import Job, Payment, StripeCustomer, utcnow
from core.db.session import session_scope
from core.errors import InvalidInput
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
    "missed_refund": "Refund in Stripe, missing or behind here",
    "missed_dispute": "Dispute in Stripe, missing or behind here",
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
    # The refund or dispute a money-back fix applies, as Stripe listed it.
    money_back: MoneyBackFix | None = field(default=None, compare=False, repr=False)

    @property
    def title(self) -> str:
        return KINDS[self.kind]


@dataclass
class DriftReport:
    drifts: list[Drift]
    jobs_checked: int
    invoices_read: int
    since: datetime | None  # None: every job, and every refund and dispute
    refunds_read: int = 0
    disputes_read: int = 0


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
    """Every disagreement between our completed/paid jobs and Stripe's invoices, every
    live Stripe invoice naming a job that cannot take it, and every refund or dispute made
    in Stripe since `since` that our books lack or hold behind."""
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
    money_back = scan(ctx, since)
    drifts.extend(
        Drift(
            g.kind, g.job_id, g.ours, g.stripes, g.fix, repairable=g.repairable, money_back=g.apply
        )
        for g in money_back.gaps
    )
    return DriftReport(
        drifts, len(ours), read, since, money_back.refunds_read, money_back.disputes_read
    )


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
        query = select(Job.id, Job.status).where(Job.id.in_(named))
        statuses = dict(session.execute(query).all()) if named else {}
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
        if why is None and paid_for_another_amount(invoice, job.amount):
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
