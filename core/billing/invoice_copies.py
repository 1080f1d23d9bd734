"""Keep `stripe_invoices` in step with Stripe, from API answers and webhook events.

Rows only move forward: a copy is replaced only by one whose status ranks at least as
high (draft < open < uncollectible < paid/void), so a late `invoice.sent` can never turn a
paid invoice back to open.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.db import insert_ignoring_conflict, session_scope
from core.models import INVOICE_STATUS_RANK, StripeInvoice, utcnow
from core.stripe_gateway import InvoiceInfo


def remember_invoice(session: Session, info: InvoiceInfo) -> None:
    rank = INVOICE_STATUS_RANK.get(info.status, 0)
    values = {
        "job_id": info.job_id,
        "payment_id": info.payment_id,
        "customer": info.customer,
        "status": info.status,
        "status_rank": rank,
        "number": info.number,
        "currency": info.currency,
        "amount_due": info.amount_due,
        "amount_paid": info.amount_paid,
        "amount_remaining": info.amount_remaining,
        "created": info.created,
        "due_date": info.due_date,
        "paid_at": info.paid_at,
        "hosted_invoice_url": info.hosted_invoice_url,
        "invoice_pdf": info.invoice_pdf,
        "updated_at": utcnow(),
    }
    if insert_ignoring_conflict(session, StripeInvoice, {"invoice_id": info.id, **values}):
        return
    session.execute(
        update(StripeInvoice)
        .where(StripeInvoice.invoice_id == info.id, StripeInvoice.status_rank <= rank)
        .values(**values)
    )


def remember_invoice_now(sessions: sessionmaker[Session], info: InvoiceInfo) -> None:
    with session_scope(sessions) as session:
        remember_invoice(session, info)
