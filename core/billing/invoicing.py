"""Invoicing a completed job through Stripe, exactly once, resumable after any failure.

`process_job_payment` walks the flow in docs/architecture.md: find or create the Stripe
customer, resume the job's current invoice (core.billing.invoice_copies) or create one, put
the job's line on it, finalize, send. Each step is safe to repeat: the customer and invoice
are found through our records and Stripe's metadata, and the
writes carry idempotency keys built from our own ids, so a retry after a crash or a lost
answer finishes the same invoice. A claim row serializes concurrent attempts for one job;
no database transaction stays open across a Stripe call.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from core.audit import record_now
from core.billing.customers import known_stripe_customer, remember_stripe_customer
from core.billing.invoice_content import InvoiceContent, invoice_content
from core.billing.invoice_copies import (
    current_copy,
    forget_invoice_now,
    remember_invoice,
    remember_invoice_now,
)
from core.billing.invoice_status import CLOSED, is_overdue
from core.billing.payments import mismatch, paid_for_another_amount
from core.billing.stripe_gateway import MissingInStripe
from core.billing.stripe_objects import InvoiceInfo
from core.context import AppContext
from core.db.models import InvoiceLock, StripeInvoice, utcnow
from core.db.session import insert_ignoring_conflict, session_scope
from core.errors import (
    Conflict,
    InvalidStripeRequest,
    InvoicingFailed,
    NotFound,
    PaymentProviderError,
)
from core.identity.actor import SYSTEM, Actor
from core.identity.permissions import load_job, require
from core.observability.metrics import INVOICES

log = logging.getLogger("core.billing.invoicing")

# A claim older than this is presumed left by a crashed process; it outlasts the slowest
# invoicing run (six Stripe calls, each with its timeout and retries).
LOCK_LEASE = timedelta(minutes=5)
LOCK_WAIT_SECONDS = 30.0
# A current invoice in one of these states is taken up again rather than replaced.
RESUMABLE = ("draft", "open", "paid")
MAX_PASSES = 4  # each pass reacts to one disagreement between our record and Stripe


@dataclass(frozen=True)
class InvoiceResult:
    job_id: int
    invoice_id: str
    status: str
    number: str | None
    amount_due: int
    amount_paid: int
    currency: str
    due_date: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None

    @property
    def overdue(self) -> bool:
        return is_overdue(self.status, self.due_date, utcnow())

    @classmethod
    def from_info(cls, job_id: int, info: InvoiceInfo) -> InvoiceResult:
        return cls(
            job_id=job_id,
            invoice_id=info.id,
            status=info.status,
            number=info.number,
            amount_due=info.amount_due,
            amount_paid=info.amount_paid,
            currency=info.currency,
            due_date=info.due_date,
            hosted_invoice_url=info.hosted_invoice_url,
            invoice_pdf=info.invoice_pdf,
        )

    @classmethod
    def from_copy(cls, copy: StripeInvoice) -> InvoiceResult:
        assert copy.job_id is not None
        return cls(
            job_id=copy.job_id,
            invoice_id=copy.invoice_id,
            status=copy.status,
            number=copy.number,
            amount_due=copy.amount_due,
            amount_paid=copy.amount_paid,
            currency=copy.currency,
            due_date=copy.due_date,
            hosted_invoice_url=copy.hosted_invoice_url,
            invoice_pdf=copy.invoice_pdf,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_date"] = self.due_date.isoformat() if self.due_date else None
        data["overdue"] = self.overdue
        return data


@dataclass(frozen=True)
class _JobFacts:
    """What invoicing needs from the database, read once before any Stripe call."""

    job_id: int
    payment_id: int
    amount: int
    customer_id: int
    customer_name: str
    customer_email: str
    customer_phone: str | None
    content: InvoiceContent


def _read_job(ctx: AppContext, job_id: int, actor: Actor) -> _JobFacts:
    require(actor, "invoice.send")
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)
        if job.status != "completed":
            hint = {
                "new": "complete it first",
                "paid": "it is already paid",
                "cancelled": "it was cancelled",
            }.get(job.status, job.status)
            raise Conflict(f"Job #{job_id} cannot be invoiced: {hint}")
        return _JobFacts(
            job_id=job.id,
            payment_id=job.payment.id,
            amount=job.payment.amount,
            customer_id=job.customer.id,
            customer_name=job.customer.name,
            customer_email=job.customer.email,
            customer_phone=job.customer.phone,
            content=invoice_content(
                job_id=job.id,
                provider=job.provider.name,
                service=job.service.name,
                category=job.service.category,
                done_on=job.completed_at,
                description=job.description,
            ),
        )


def _known_customer(ctx: AppContext, user_id: int) -> str | None:
    with session_scope(ctx.sessions) as session:
        return known_stripe_customer(session, user_id)


def _record_customer(ctx: AppContext, user_id: int, stripe_customer_id: str) -> str:
    """Record the link before any invoice is made for it, so the webhooks that follow can
    check an invoice belongs to this customer; returns the link as recorded."""
    with session_scope(ctx.sessions) as session:
        remember_stripe_customer(session, user_id, stripe_customer_id)
        return known_stripe_customer(session, user_id) or stripe_customer_id


@contextmanager
def job_invoicing_lock(ctx: AppContext, job_id: int) -> Iterator[None]:
    """Hold the job's claim row for the duration of the block (short transactions only)."""
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        with session_scope(ctx.sessions) as session:
            now = utcnow()
            taken = insert_ignoring_conflict(
                session, InvoiceLock, {"job_id": job_id, "owner": owner, "acquired_at": now}
            )
            if not taken:  # take over a claim abandoned by a crashed process
                stale = session.execute(
                    update(InvoiceLock)
                    .where(InvoiceLock.job_id == job_id, InvoiceLock.acquired_at < now - LOCK_LEASE)
                    .values(owner=owner, acquired_at=now)
                )
                taken = getattr(stale, "rowcount", 0) == 1
        if taken:
            break
        if time.monotonic() > deadline:
            raise Conflict(f"Job #{job_id} is being invoiced right now; try again in a moment")
        time.sleep(0.05)
    try:
        yield
    finally:
        with session_scope(ctx.sessions) as session:
            session.execute(
                delete(InvoiceLock).where(InvoiceLock.job_id == job_id, InvoiceLock.owner == owner)
            )


def oldest_first(newest_first: list[InvoiceInfo]) -> list[InvoiceInfo]:
    """Stripe lists newest first; `created` has whole seconds, so two invoices made in the
    same second tie, and their list order (reversed) decides which is older."""
    ordered = list(reversed(newest_first))
    ordered.sort(key=lambda invoice: invoice.created)  # stable: ties keep the list's order
    return ordered


def _info_from_copy(copy: StripeInvoice) -> InvoiceInfo:
    """Our copy as the gateway's value, marked as not yet read from Stripe (lines -1)."""
    return InvoiceInfo(
        id=copy.invoice_id,
        status=copy.status,
        customer=copy.customer,
        currency=copy.currency,
        amount_due=copy.amount_due,
        amount_paid=copy.amount_paid,
        amount_remaining=copy.amount_remaining,
        number=copy.number,
        created=copy.created,
        due_date=copy.due_date,
        paid_at=copy.paid_at,
        hosted_invoice_url=copy.hosted_invoice_url,
        invoice_pdf=copy.invoice_pdf,
        job_id=copy.job_id,
        payment_id=copy.payment_id,
        line_count=-1,  # not copied: how far it got is read from Stripe
    )


def _from_records(ctx: AppContext, job_id: int) -> tuple[InvoiceInfo | None, int]:
    """The job's current invoice from our own records, if invoicing can go on with it, and
    how many of its invoices were closed (voided or written off), which a new invoice's key
    counts. No search: a job with no invoice on record gets a new one (its key replays one
    an earlier attempt made), and one on record is read from Stripe by its id."""
    with session_scope(ctx.sessions) as session:
        current = current_copy(session, job_id)
        closed = session.scalar(
            select(func.count())
            .select_from(StripeInvoice)
            .where(StripeInvoice.job_id == job_id, StripeInvoice.status.in_(CLOSED))
        )
        resumable = current if current is not None and current.status in RESUMABLE else None
        return (_info_from_copy(resumable) if resumable else None), int(closed or 0)


@dataclass
class _Step:
    """The Stripe step under way, for the failure report."""

    name: str = "customer_search"


def _finish(
    ctx: AppContext,
    facts: _JobFacts,
    customer_id: str,
    invoice: InvoiceInfo | None,
    issue: int,
    step: _Step,
) -> tuple[InvoiceInfo, datetime | None]:
    """Take the job's invoice from where it stands to sent: create it (keyed), put the
    job's line on it (keyed), send it (keyed; sending a draft finalizes it). Three calls for
    a first invoice; more only when our record and Stripe disagree (a replayed create, a
    draft deleted in Stripe, an invoice closed in Stripe without our hearing), and then
    Stripe's own answer decides. Returns the invoice and when we sent it."""
    gateway, job_id = ctx.gateway, facts.job_id
    replaces: str | None = None
    refreshed = False
    in_play = invoice.id if invoice is not None else None  # the invoice this pass works on
    for _ in range(MAX_PASSES):
        try:
            if invoice is None:
                step.name = "invoice_create"
                created, replayed = gateway.create_invoice(
                    customer_id=customer_id,
                    job_id=job_id,
                    payment_id=facts.payment_id,
                    days_until_due=ctx.settings.invoice_days_until_due,
                    issue=issue,
                    replaces=replaces,
                    content=facts.content,
                )
                in_play = created.id
                # A replayed create is the invoice as first made: read how far it got.
                invoice = gateway.retrieve_invoice(created.id) if replayed else created
                # Known locally from now on, so a failure below shows a draft to retry.
                remember_invoice_now(ctx.sessions, invoice)
            elif invoice.line_count < 0:  # our record: Stripe says how far it got
                step.name = "invoice_retrieve"
                invoice = gateway.retrieve_invoice(invoice.id)
                remember_invoice_now(ctx.sessions, invoice)
            if invoice.status in CLOSED:
                issue, invoice = issue + 1, None
                continue
            if invoice.status == "paid":
                return invoice, None
            if invoice.status == "draft" and invoice.line_count == 0:
                step.name = "item_create"
                gateway.add_invoice_item(
                    customer_id=invoice.customer,
                    invoice_id=invoice.id,
                    amount=facts.amount,
                    description=facts.content.line_description,
                    job_id=job_id,
                    payment_id=facts.payment_id,
                )
            step.name = "send"
            # Keyed by invoice: a retry after a send that did go through sends no second
            # e-mail. Sending a draft finalizes it, so no separate finalize call.
            sent = gateway.send_invoice(invoice.id, idempotency_key=f"send:{invoice.id}")
            return sent, utcnow()
        except MissingInStripe:
            if in_play is None or replaces == in_play:
                raise
            # A draft deleted in Stripe: make a new one in its place (a new key).
            forget_invoice_now(ctx.sessions, in_play)
            replaces, invoice, in_play = in_play, None, None
        except InvalidStripeRequest:
            if invoice is None or refreshed:
                raise
            # Our record was behind Stripe (voided, paid, finalized meanwhile): read it.
            refreshed = True
            step.name = "invoice_retrieve"
            invoice = gateway.retrieve_invoice(invoice.id)
            remember_invoice_now(ctx.sessions, invoice)
    raise Conflict(f"Job #{job_id}'s invoice keeps changing in Stripe; try again in a minute")


def process_job_payment(ctx: AppContext, *, job_id: int, actor: Actor = SYSTEM) -> InvoiceResult:
    """Create (or finish) and send the Stripe invoice for a completed job.

    Raises InvoicingFailed naming the Stripe step that failed; the job stays completed,
    the failure is in the audit log, and calling this again finishes the same invoice.
    """
    facts = _read_job(ctx, job_id, actor)
    gateway = ctx.gateway
    step = _Step()
    with job_invoicing_lock(ctx, job_id):
        try:
            # Our record first; Stripe's search (by metadata) only when it is missing.
            customer_id = _known_customer(ctx, facts.customer_id)
            if customer_id is None:
                customer_id = gateway.find_customer_id(facts.customer_id)
                if customer_id is None:
                    step.name = "customer_create"
                    customer_id = gateway.create_customer(
                        user_id=facts.customer_id,
                        name=facts.customer_name,
                        email=facts.customer_email,
                        phone=facts.customer_phone,
                    )
                customer_id = _record_customer(ctx, facts.customer_id, customer_id)
            step.name = "invoice_create"
            invoice, issue = _from_records(ctx, job_id)
            invoice, sent_at = _finish(ctx, facts, customer_id, invoice, issue, step)
        except PaymentProviderError as error:
            record_now(
                ctx.sessions,
                actor=actor,
                action="invoice.send",
                job_id=job_id,
                result="failed",
                after={"step": step.name},
                error=error.message,
            )
            INVOICES.labels(step=step.name, result="failed").inc()
            log.warning(
                "invoice.failed",
                extra={"job_id": job_id, "step": step.name, "error": error.message},
            )
            raise InvoicingFailed(
                f"Invoicing job #{job_id} failed at {step.name.replace('_', ' ')}: "
                f"{error.message} The job stays completed; send the invoice again to finish it.",
                step=step.name,
                cause=error,
            ) from error
    result = InvoiceResult.from_info(job_id, invoice)
    remember_invoice_now(ctx.sessions, invoice, sent_at=sent_at)
    record_now(
        ctx.sessions,
        actor=actor,
        action="invoice.send",
        job_id=job_id,
        after={
            "invoice_id": invoice.id,
            "status": invoice.status,
            "amount_due": invoice.amount_due,
            "hosted_invoice_url": invoice.hosted_invoice_url,
        },
    )
    INVOICES.labels(step="invoice_send", result="sent").inc()
    log.info("invoice.sent", extra={"job_id": job_id, "invoice": invoice.id})
    return result


def send_invoice(ctx: AppContext, *, job_id: int, actor: Actor) -> InvoiceResult:
    """ "Send invoice" for a completed job: makes the invoice, or finishes a half-made one."""
    return process_job_payment(ctx, job_id=job_id, actor=actor)


def job_invoice(ctx: AppContext, *, job_id: int, actor: Actor) -> InvoiceResult | None:
    """The job's current invoice, refreshed from Stripe; None if it has none.

    Only invoices that pass the webhook's cross-checks are taken in: metadata naming this
    job is not enough (another customer's invoice, another currency, or one paid for
    another amount never becomes the job's invoice here either).
    """
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)  # scope: someone else's job is "not found"
        customer = known_stripe_customer(session, job.customer_id)
        amount = job.payment.amount
    found = ctx.gateway.invoices_for_job(job_id)
    with session_scope(ctx.sessions) as session:
        for invoice in found:
            foreign = mismatch(
                invoice, job_id=job_id, customer=customer, currency=ctx.settings.currency
            )
            if foreign is None and not paid_for_another_amount(invoice, amount):
                remember_invoice(session, invoice)
        current = current_copy(session, job_id)
        return InvoiceResult.from_copy(current) if current else None


def resend_invoice(ctx: AppContext, *, job_id: int, actor: Actor) -> InvoiceResult:
    """Email an open invoice again (a fresh send, so no idempotency key)."""
    require(actor, "invoice.resend")
    current = job_invoice(ctx, job_id=job_id, actor=actor)
    if current is None:
        raise NotFound(f"Job #{job_id} has no invoice yet; send one first")
    if current.status != "open":
        raise Conflict(f"Job #{job_id}'s invoice is {current.status}; only an open one is resent")
    try:
        info = ctx.gateway.send_invoice(current.invoice_id)
    except PaymentProviderError as error:
        record_now(
            ctx.sessions,
            actor=actor,
            action="invoice.resend",
            job_id=job_id,
            result="failed",
            error=error.message,
        )
        raise
    remember_invoice_now(ctx.sessions, info, sent_at=utcnow())
    record_now(
        ctx.sessions,
        actor=actor,
        action="invoice.resend",
        job_id=job_id,
        after={"invoice_id": info.id},
    )
    return InvoiceResult.from_info(job_id, info)
