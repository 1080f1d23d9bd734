"""Invoices, earnings and payment history.

Earnings and history only read, through `context.readers` (no write lock on SQLite); the
invoice endpoints write their copy of the invoice, through `context.sessions`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from core.billing.invoicing import InvoiceResult, job_invoice, resend_invoice, send_invoice
from core.db.session import session_scope
from core.errors import NotFound
from core.identity.permissions import require
from core.reporting.earnings import by_month, summary
from core.reporting.payment_history import HistoryFilter, payment_history
from webhook_service.auth import CurrentActor
from webhook_service.deps import ContextDep
from webhook_service.schemas import (
    EarningsOut,
    HistoryItemOut,
    HistoryPageOut,
    InvoiceOut,
    MonthOut,
    error_responses,
)

router = APIRouter(prefix="/payments", tags=["payments"])
JobId = Path(gt=0, le=2**31 - 1, description="The job's number")
ProviderId = Path(gt=0, le=2**31 - 1, description="The provider's id")


def invoice_out(result: InvoiceResult) -> InvoiceOut:
    return InvoiceOut(**result.to_dict())


@router.post(
    "/jobs/{job_id}/send-invoice",
    response_model=InvoiceOut,
    summary="Send the invoice of a completed job, or finish a half-made one",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
def send(actor: CurrentActor, context: ContextDep, job_id: int = JobId) -> InvoiceOut:
    require(actor, "invoice.send")
    return invoice_out(send_invoice(context, job_id=job_id, actor=actor))


@router.get(
    "/jobs/{job_id}/invoice",
    response_model=InvoiceOut,
    summary="The job's invoice: status, amount, due date, links",
    responses=error_responses(401, 403, 404, 422, 502, 503),
)
def invoice(actor: CurrentActor, context: ContextDep, job_id: int = JobId) -> InvoiceOut:
    require(actor, "invoice.read")
    found = job_invoice(context, job_id=job_id, actor=actor)
    if found is None:
        raise NotFound(f"Job #{job_id} has no invoice yet")
    return invoice_out(found)


@router.post(
    "/jobs/{job_id}/resend-invoice",
    response_model=InvoiceOut,
    summary="Email an open invoice again",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
def resend(actor: CurrentActor, context: ContextDep, job_id: int = JobId) -> InvoiceOut:
    require(actor, "invoice.resend")
    return invoice_out(resend_invoice(context, job_id=job_id, actor=actor))


@router.get(
    "/provider/{provider_id}/earnings",
    response_model=EarningsOut,
    summary="A provider's balance (net of refunds and lost disputes), what moved back, "
    "jobs paid, outstanding, and the last 12 months",
    responses=error_responses(401, 403, 404, 422),
)
def earnings(
    actor: CurrentActor, context: ContextDep, provider_id: int = ProviderId
) -> EarningsOut:
    require(actor, "earnings.read")
    with session_scope(context.readers) as session:
        totals = summary(session, provider_id=provider_id, actor=actor)
        months = by_month(session, provider_id=provider_id, actor=actor)
    return EarningsOut(
        provider_id=provider_id,
        balance=totals.balance,
        jobs_paid=totals.jobs_paid,
        outstanding=totals.outstanding,
        jobs_outstanding=totals.jobs_outstanding,
        received=totals.received,
        refunded=totals.refunded,
        refunded_this_month=totals.refunded_this_month,
        dispute_lost=totals.dispute_lost,
        held=totals.held,
        by_month=[
            MonthOut(month=date.fromisoformat(m.label), amount=m.amount, payments=m.count)
            for m in months
        ],
    )


@router.get(
    "/history",
    response_model=HistoryPageOut,
    summary="Payments, newest first: your own, or all of them for admins and finance",
    responses=error_responses(401, 403, 422),
)
def history(
    actor: CurrentActor,
    context: ContextDep,
    provider_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    customer_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    status: Annotated[Literal["pending", "received"] | None, Query()] = None,
    created_from: Annotated[date | None, Query()] = None,
    created_to: Annotated[date | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HistoryPageOut:
    """Filters narrow the list; they never widen a customer's or provider's own scope."""
    with session_scope(context.readers) as session:
        page = payment_history(
            session,
            actor=actor,
            filters=HistoryFilter(provider_id, customer_id, status, created_from, created_to),
            limit=limit,
            cursor=cursor,
        )
    return HistoryPageOut(
        items=[HistoryItemOut(**vars(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )
