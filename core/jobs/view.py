"""One job as people and scripts see it: the job, its payment, and its invoice."""

from __future__ import annotations

from typing import Any

from core.billing.invoicing import InvoiceResult, job_invoice
from core.context import AppContext
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import load_job


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_details(
    ctx: AppContext, *, job_id: int, actor: Actor, with_invoice: bool = True
) -> dict[str, Any]:
    """A stable, JSON-ready description of a job (money in cents)."""
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)
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
        }
    invoice: InvoiceResult | None = (
        job_invoice(ctx, job_id=job_id, actor=actor) if with_invoice else None
    )
    details["invoice"] = invoice.to_dict() if invoice else None
    return details
