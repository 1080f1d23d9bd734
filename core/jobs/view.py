"""One job as people and scripts see it: the job, its payment, its invoice, and the money
that moved back (refunds and disputes)."""

from __future__ import annotations

from typing import Any

from core.billing.invoice_copies import current_copy
from core.billing.invoice_status import shown_status
from core.billing.invoicing import InvoiceResult, job_invoice
from core.context import AppContext
from core.db.models import utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import load_job
from core.jobs.money_back_view import as_json, job_money_back


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_details(
    ctx: AppContext, *, job_id: int, actor: Actor, with_invoice: bool = True
) -> dict[str, Any]:
    """A stable, JSON-ready description of a job (money in cents).

    `invoice_status` is the word of core.billing.invoice_status.SHOWN_STATUSES for our copy
    of the job's current invoice and its money moved back; `money_back` has the totals and
    each refund and dispute. `with_invoice` also refreshes the invoice from Stripe.
    """
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)
        back = job_money_back(session, job_id)
        copy = current_copy(session, job_id)
        details: dict[str, Any] = {
            "job": {
                "id": job.id,
                "status": job.status,
                "price": job.price,
                "description": job.description,
                "service": {
                    "id": job.service.id,
                    "name": job.service.name,
                    "category": job.service.category,
                },
                "customer": {"id": job.customer.id, "name": job.customer.name},
                "provider": {"id": job.provider.id, "name": job.provider.name},
                "created_at": _iso(job.created_at),
                "completed_at": _iso(job.completed_at),
                "paid_at": _iso(job.paid_at),
            },
            "payment": {
                "id": job.payment.id,
                "amount": job.payment.amount,
                "status": job.payment.status,
                "method": job.payment.method,
                "marked_at": _iso(job.payment.marked_at),
            },
            "money_back": as_json(back),
        }
        status, due_date = (copy.status, copy.due_date) if copy else (None, None)
    invoice: InvoiceResult | None = None
    if with_invoice:
        invoice = job_invoice(ctx, job_id=job_id, actor=actor)
        status, due_date = (invoice.status, invoice.due_date) if invoice else (None, None)
    details["invoice_status"] = shown_status(
        status,
        due_date,
        utcnow(),
        amount=details["payment"]["amount"],
        refunded=back.refunded,
        disputed=back.disputed,
        dispute_lost=back.dispute_lost,
    )
    details["invoice"] = invoice.to_dict() if invoice else None
    return details
