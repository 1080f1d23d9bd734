"""`POST /jobs/create` (customers) and `POST /provider/jobs/{id}/update-status` (providers)."""

from __future__ import annotations

from fastapi import APIRouter, Path

from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import load_job, require
from core.jobs.lifecycle import complete_job, create_job
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
