"""`POST /jobs/create` (customers), `POST /provider/jobs/{id}/update-status` (providers), and
an admin's refund of a paid job: `GET /jobs/{id}/refunds/preview`, `POST /jobs/{id}/refunds`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from core.billing.refund_action import MAX_REASON, RefundPreview, preview_refund, refund_job
from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import load_job, require
from core.jobs.lifecycle import complete_job, create_job
from core.money import MAX_PRICE_CENTS
from webhook_service.auth import CurrentActor
from webhook_service.deps import ContextDep
from webhook_service.schemas import (
    CompletionOut,
    ErrorDetail,
    InvoiceOut,
    JobCreate,
    JobOut,
    PaymentOut,
    UpdateStatus,
    _json_number,
    error_responses,
)

router = APIRouter(tags=["jobs"])
JobId = Path(gt=0, le=2**31 - 1, description="The job's number")


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        price=job.price,
        description=job.description,
        service_id=job.service_id,
        customer_id=job.customer_id,
        provider_id=job.provider_id,
        created_at=job.created_at,
        completed_at=job.completed_at,
        paid_at=job.paid_at,
        payment=PaymentOut(
            id=job.payment.id,
            amount=job.payment.amount,
            status=job.payment.status,  # type: ignore[arg-type]
            method=job.payment.method,
            marked_at=job.payment.marked_at,
        ),
    )


def read_job(context: AppContext, job_id: int, actor: Actor) -> JobOut:
    with session_scope(context.readers) as session:
        return job_out(load_job(session, job_id, actor))


@router.post(
    "/jobs/create",
    status_code=201,
    response_model=JobOut,
    summary="Book a job (customer)",
    responses=error_responses(401, 403, 404, 422),
)
def create(body: JobCreate, actor: CurrentActor, context: ContextDep) -> JobOut:
    """A new job for the calling customer, with its payment pending at 0 until completion."""
    require(actor, "job.create")
    assert actor.id is not None
    with session_scope(context.sessions) as session:
        job = create_job(
            session,
            currency=context.settings.currency,
            customer_id=actor.id,
            provider_id=body.provider_id,
            service_id=body.service_id,
            price=body.price,
            description=body.description,
        )
        job_id = job.id
    return read_job(context, job_id, actor)


@router.post(
    "/provider/jobs/{job_id}/update-status",
    response_model=CompletionOut,
    summary="Mark a job complete and invoice it (the job's provider)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_status(
    body: UpdateStatus, actor: CurrentActor, context: ContextDep, job_id: int = JobId
) -> CompletionOut:
    """`{"action": "mark_complete"}`: the job becomes completed and its invoice is sent.

    If invoicing fails the job stays completed; the answer carries the error and
    `send-invoice` finishes the same invoice.
    """
    require(actor, "job.update_status")
    result = complete_job(context, job_id=job_id, actor=actor)
    invoice = InvoiceOut(**result.invoice.to_dict()) if result.invoice else None
    error = (
        ErrorDetail(code=result.error.code, message=result.error.message) if result.error else None
    )
    return CompletionOut(
        job=read_job(context, job_id, actor), invoice=invoice, invoicing_error=error
    )


# An admin's refund. Its bodies are here, beside the only endpoints that use them.

# JsonInt's check, after the bounds: so that, in an optional field, the bounds are still
# published as JSON Schema's minimum and maximum.
_NUMBER = BeforeValidator(_json_number)


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(gt=0, le=MAX_PRICE_CENTS), _NUMBER] | None = Field(
        default=None, description="In cents; left out, all that is left to refund"
    )
    reason: str = Field(
        max_length=MAX_REASON,
        pattern="[A-Za-z0-9]",
        description="Why, in words: kept in the audit log and shown on the credit note",
    )
    refunded_before: Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS), _NUMBER] | None = Field(
        default=None,
        description="`already_refunded` of the preview this request confirms. Sent again, "
        "the same request answers with the refund it made instead of refunding twice; after "
        "another refund it is refused (409).",
    )


class RefundPreviewOut(BaseModel):
    job_id: int
    invoice_id: str = Field(description="The Stripe invoice the credit note is made on")
    currency: str
    paid: int = Field(description="In cents")
    already_refunded: int = Field(description="In cents")
    disputed: int = Field(description="Cents held by an open dispute")
    left_to_refund: int = Field(description="In cents")
    amount: int = Field(description="Cents that would go back to the customer")
    provider_earnings: int = Field(description="The provider's earnings now, in cents")
    provider_earnings_after: int = Field(description="In cents")
    refunded_in_full: bool = Field(description="Nothing of the payment would be left")


class RefundOut(BaseModel):
    job_id: int
    amount: int = Field(description="Cents given back by this refund")
    credit_note_id: str
    refund_ids: list[str] = Field(description="Stripe's refunds the credit note made")
    refunded: int = Field(description="Cents of the payment refunded in all")
    left_to_refund: int = Field(description="In cents")
    provider_earnings: int = Field(description="The provider's earnings after it, in cents")
    refunded_in_full: bool
    replayed: bool = Field(description="The same request was made before; nothing more went back")
    message: str = Field(description="Plain text, never markup")


def preview_out(preview: RefundPreview) -> RefundPreviewOut:
    fields = RefundPreviewOut.model_fields
    return RefundPreviewOut(**{k: v for k, v in preview.to_dict().items() if k in fields})


@router.get(
    "/jobs/{job_id}/refunds/preview",
    response_model=RefundPreviewOut,
    summary="What refunding a paid job would do (admins); nothing changes",
    responses=error_responses(401, 403, 404, 409, 422),
)
def refund_preview(
    actor: CurrentActor,
    context: ContextDep,
    job_id: int = JobId,
    amount: Annotated[
        int | None, Query(gt=0, le=MAX_PRICE_CENTS, description="In cents; default all left")
    ] = None,
) -> RefundPreviewOut:
    """Our records only: what was paid, refunded and held, what is left, the amount that
    would go back and the provider's earnings after. 409 when it cannot be refunded (not
    paid, paid by hand, disputed, more than is left)."""
    require(actor, "refund")
    return preview_out(preview_refund(context, job_id, actor=actor, amount=amount))


@router.post(
    "/jobs/{job_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    summary="Refund a paid job, in full or in part, by a Stripe credit note (admins)",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
def refund(
    body: RefundCreate, actor: CurrentActor, context: ContextDep, job_id: int = JobId
) -> RefundOut:
    """The money goes back to the customer's card; the provider's earnings drop at once.
    A refusal by Stripe answers 502 with Stripe's words, and nothing changes."""
    require(actor, "refund")
    result = refund_job(
        context,
        job_id,
        actor=actor,
        amount=body.amount,
        reason=body.reason,
        refunded_before=body.refunded_before,
    )
    return RefundOut(**{k: v for k, v in result.to_dict().items() if k in RefundOut.model_fields})
