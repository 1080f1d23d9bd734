"""Refunds and disputes in Stripe that our books do not show (a webhook missed, or one that
came before its payment could be traced), found for the drift report and applied by its
repair through the webhook handlers' own code.

Stripe's refunds and disputes since the report's start are listed in bulk (100 a page).
One is a drift when our row is missing (a refund only if it moves money: not failed or
canceled) or behind Stripe's status, by the rule that moves a row forward
(core.billing.money_back). Each is traced to a job as the handlers trace it: our row or
our link from its PaymentIntent (`stripe_invoice_payments`), else Stripe's InvoicePayment
of that PaymentIntent and our copy of the invoice it paid, else metadata naming our job
and its payment. One that traces to nothing of ours is another charge of the account, not
a drift. Stripe is called with no transaction open; the repair records the link it found,
under the job's lock, which settles the payment's webhook events left `unmatched`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing import money_back
from core.billing.event_schema import metadata_id, when
from core.billing.money_back_events import (
    apply_dispute,
    apply_refund,
    link_payment,
    paid_job,
    serialize_on_payment,
)
from core.billing.money_back_schema import DisputeObject, InvoicePaymentObject, RefundObject
from core.billing.payments import Outcome
from core.context import AppContext
from core.db.models import (
    Payment,
    StripeDispute,
    StripeInvoice,
    StripeInvoicePayment,
    StripeRefund,
    utcnow,
)
from core.db.session import session_scope
from core.money import format_cents

# With no start given, the report compares every job; so it lists every refund and dispute.
EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)
_IN_CHUNK = 500  # ids per IN (...) list
_NOT_HELD = ("won", "warning_closed", "prevented")  # a dispute that claims nothing

MoneyBack = RefundObject | DisputeObject


@dataclass(frozen=True)
class MoneyBackFix:
    """What the repair applies: Stripe's refund or dispute, the job and payment it traced
    to, and the InvoicePayment that traced it when our link was missing (recorded too)."""

    found: MoneyBack
    job_id: int
    payment_id: int
    invoice_payment: InvoicePaymentObject | None = None


@dataclass(frozen=True)
class MoneyBackGap:
    kind: str  # "missed_refund" or "missed_dispute"
    job_id: int
    ours: str
    stripes: str
    fix: str
    repairable: bool
    apply: MoneyBackFix | None


@dataclass(frozen=True)
class MoneyBackScan:
    gaps: list[MoneyBackGap]
    refunds_read: int
    disputes_read: int


@dataclass(frozen=True)
class _Trace:
    job_id: int | None
    payment_id: int | None
    invoice_payment: InvoicePaymentObject | None = None
    invoice_id: str | None = None  # the invoice of ours it was traced through


def _is_refund(obj: MoneyBack) -> bool:
    return isinstance(obj, RefundObject)


def _behind(obj: MoneyBack, ours: str | None) -> bool:
    """Whether our books lack Stripe's refund or dispute, or hold it at a status that
    recording it again would move on."""
    if _is_refund(obj):
        if ours is None:
            return obj.status in money_back.REFUND_COUNTS
        return ours not in money_back.REFUND_FINAL and obj.status != ours
    if ours is None:
        return True
    return ours not in money_back.DISPUTE_CLOSED and obj.status != ours


def _claims(obj: MoneyBack) -> bool:
    """Whether it takes or holds part of the payment (what may not pass its amount)."""
    if _is_refund(obj):
        return obj.status in money_back.REFUND_COUNTS
    return obj.status not in _NOT_HELD


def scan(ctx: AppContext, since: datetime | None) -> MoneyBackScan:
    """Every refund and dispute made in Stripe since `since` (None: ever) that our books
    lack or hold behind, traced to the job it is about."""
    currency = ctx.settings.currency
    start = since or EVERYTHING
    refunds = list(ctx.gateway.refunds_since(start))
    disputes = list(ctx.gateway.disputes_since(start))
    # Another currency is not a charge of ours: every invoice we make is in `currency`.
    every: list[MoneyBack] = [*refunds, *disputes]
    listed = [o for o in every if o.currency == currency]
    with session_scope(ctx.readers) as session:
        rows = _our_rows(session, listed)
        behind = [o for o in listed if _behind(o, rows[o.id][0] if o.id in rows else None)]
        intents = {i for o in behind if o.id not in rows if (i := o.payment_intent_id)}
        links = _links(session, intents)
    # Stripe knows which invoice a payment paid; asked only for what we cannot place.
    asked: dict[str, InvoicePaymentObject | None] = {}
    for obj in behind:
        intent = obj.payment_intent_id
        if obj.id not in rows and intent and intent not in links and intent not in asked:
            asked[intent] = ctx.gateway.invoice_payment_of(intent)
    with session_scope(ctx.readers) as session:
        invoice_ids = {p.invoice_id for p in asked.values() if p is not None}
        copies = _copies(session, invoice_ids)
        traces = {o.id: _trace(o, rows, links, asked, copies) for o in behind}
        job_ids = {t.job_id for t in traces.values() if t.job_id is not None}
        payments = _payments(session, job_ids)
        gaps = [
            gap
            for obj in behind
            if (gap := _gap(session, obj, rows.get(obj.id), traces[obj.id], payments)) is not None
        ]
    return MoneyBackScan(gaps, len(refunds), len(disputes))


def _chunks(ids: Collection[Any]) -> Iterable[list[Any]]:
    items = list(ids)
    for index in range(0, len(items), _IN_CHUNK):
        yield items[index : index + _IN_CHUNK]


def _our_rows(session: Session, listed: list[MoneyBack]) -> dict[str, tuple[str, int, int]]:
    """(status, job, payment) of each refund and dispute we hold of those listed."""
    found: dict[str, tuple[str, int, int]] = {}
    for model, key, kind in (
        (StripeRefund, StripeRefund.refund_id, True),
        (StripeDispute, StripeDispute.dispute_id, False),
    ):
        wanted = [o.id for o in listed if _is_refund(o) is kind]
        for chunk in _chunks(wanted):
            query = select(key, model.status, model.job_id, model.payment_id).where(key.in_(chunk))
            found.update({row[0]: (row[1], row[2], row[3]) for row in session.execute(query)})
    return found


def _links(session: Session, intents: set[str]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(intents):
        query = select(
            StripeInvoicePayment.payment_intent_id,
            StripeInvoicePayment.job_id,
            StripeInvoicePayment.payment_id,
        ).where(StripeInvoicePayment.payment_intent_id.in_(chunk))
        found.update({row[0]: (row[1], row[2]) for row in session.execute(query)})
    return found


def _copies(session: Session, invoice_ids: set[str]) -> dict[str, tuple[int | None, int | None]]:
    found: dict[str, tuple[int | None, int | None]] = {}
    for chunk in _chunks(invoice_ids):
        query = select(
            StripeInvoice.invoice_id, StripeInvoice.job_id, StripeInvoice.payment_id
        ).where(StripeInvoice.invoice_id.in_(chunk))
        found.update({row[0]: (row[1], row[2]) for row in session.execute(query)})
    return found


def _payments(session: Session, job_ids: set[int]) -> dict[int, tuple[int, int]]:
    """Each job's payment: (payment id, amount)."""
    found: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(job_ids):
        query = select(Payment.job_id, Payment.id, Payment.amount).where(Payment.job_id.in_(chunk))
        found.update({row[0]: (row[1], row[2]) for row in session.execute(query)})
    return found


def _trace(
    obj: MoneyBack,
    rows: dict[str, tuple[str, int, int]],
    links: dict[str, tuple[int, int]],
    asked: dict[str, InvoicePaymentObject | None],
    copies: dict[str, tuple[int | None, int | None]],
) -> _Trace:
    """The job and payment it is about, the way the webhook handlers find them."""
    if obj.id in rows:
        _, job_id, payment_id = rows[obj.id]
        return _Trace(job_id, payment_id)
    intent = obj.payment_intent_id
    if intent in links:
        return _Trace(*links[intent])
    paid = asked.get(intent) if intent else None
    if paid is not None and paid.invoice_id in copies:
        return _Trace(*copies[paid.invoice_id], invoice_payment=paid, invoice_id=paid.invoice_id)
    # A hint, as for the handlers: checked below against the job's own payment.
    return _Trace(metadata_id(obj.metadata, "job_id"), metadata_id(obj.metadata, "payment_id"))


def _gap(
    session: Session,
    obj: MoneyBack,
    ours: tuple[str, int, int] | None,
    trace: _Trace,
    payments: dict[int, tuple[int, int]],
) -> MoneyBackGap | None:
    refund = _is_refund(obj)
    noun = "refund" if refund else "dispute"
    kind = f"missed_{noun}"
    currency = obj.currency
    payment = payments.get(trace.job_id) if trace.job_id is not None else None
    placed = payment is not None and payment[0] == trace.payment_id
    stripes = f"{noun} {obj.id} {obj.status} {format_cents(obj.amount, currency)}"
    ours_text = f"{noun} {obj.id} {ours[0]}" if ours else f"no record of {noun} {obj.id}"
    if not placed:
        if trace.invoice_id is None:
            return None  # another charge of the Stripe account, nothing of ours
        why = (
            f"it is for invoice {trace.invoice_id}, which names no job of ours"
            if trace.job_id is None
            else f"it is for invoice {trace.invoice_id}, whose job #{trace.job_id} has no "
            f"payment #{trace.payment_id}"
        )
        return MoneyBackGap(
            kind,
            trace.job_id or 0,
            ours_text,
            stripes,
            f"check in Stripe by hand: {why}",
            False,
            None,
        )
    assert payment is not None and trace.job_id is not None and trace.payment_id is not None
    if _claims(obj):
        claimed = money_back.taken_or_held(session, trace.job_id, besides=obj.id)
        if claimed + obj.amount > payment[1]:
            fix = (
                f"check in Stripe by hand: {format_cents(obj.amount, currency)} with "
                f"{format_cents(claimed, currency)} already refunded or disputed would pass "
                f"payment #{trace.payment_id}'s {format_cents(payment[1], currency)}"
            )
            return MoneyBackGap(kind, trace.job_id, ours_text, stripes, fix, False, None)
    webhook = "the missed refund webhook" if refund else "the missed dispute webhook"
    fix = (
        f"move it to {obj.status}, as {webhook} would have"
        if ours
        else f"record the {noun}, as {webhook} would have"
    )
    apply = MoneyBackFix(obj, trace.job_id, trace.payment_id, trace.invoice_payment)
    return MoneyBackGap(kind, trace.job_id, ours_text, stripes, fix, True, apply)


def apply_fix(session: Session, fix: MoneyBackFix, currency: str) -> Outcome:
    """Apply Stripe's refund or dispute to the job as its webhook would have, under the
    job's lock; then record the payment's link when it was traced through Stripe, which
    also handles again the payment's events recorded `unmatched` (now already applied)."""
    found = fix.found
    intent = found.payment_intent_id  # the one its InvoicePayment was asked for, if any
    if intent:
        serialize_on_payment(session, intent)  # before the job's lock, as the handlers do
    job = paid_job(session, fix.job_id, fix.payment_id)
    if job is None:
        return Outcome("orphan", f"job #{fix.job_id} no longer has payment #{fix.payment_id}")
    if isinstance(found, RefundObject):
        outcome = apply_refund(session, job, found)
    else:
        outcome = apply_dispute(session, job, found)
    paid = fix.invoice_payment
    if outcome.outcome != "amount_mismatch" and paid is not None and intent:
        link_payment(
            session,
            payment_intent_id=intent,
            invoice_id=paid.invoice_id,
            job=job,
            amount=paid.amount_paid or 0,
            created=when(paid.created) or utcnow(),
            currency=currency,
        )
    return outcome


def describe(fix: MoneyBackFix, outcome: Outcome) -> str:
    """What the repair did, in words."""
    found = fix.found
    noun = "refund" if _is_refund(found) else "dispute"
    amount = format_cents(found.amount, found.currency)
    if outcome.outcome == "already_applied":
        return f"{noun} {found.id} was recorded already"
    if outcome.outcome == "refund_applied":
        return f"refund {found.id} of {amount} recorded ({found.status})"
    return f"{noun} {found.id} of {amount} recorded as {found.status}"
