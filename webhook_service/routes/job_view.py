"""`GET /jobs/{id}`: one job as its customer, its provider, admins and finance read it: the
job and its payment, the word its invoice shows, and the money that moved back (each
refund and dispute). Our records only: no call to Stripe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from core.identity.permissions import require
from core.jobs.view import job_details
from webhook_service.auth import CurrentActor
from webhook_service.deps import ContextDep
from webhook_service.routes.jobs import read_job
from webhook_service.schemas import JobViewOut, MoneyBackOut, error_responses

router = APIRouter(tags=["jobs"])
JobId = Path(gt=0, le=2**31 - 1, description="The job's number")


@router.get(
    "/jobs/{job_id}",
    response_model=JobViewOut,
    summary="A job: its payment, what its invoice shows, its refunds and disputes",
    responses=error_responses(401, 403, 404, 422),
)
def job_view(actor: CurrentActor, context: ContextDep, job_id: int = JobId) -> JobViewOut:
    """Someone else's job is a 404. `invoice_status` is the word the dashboard shows;
    `money_back` has what was refunded, is held or was lost, with each refund and dispute."""
    require(actor, "job.read")
    job = read_job(context, job_id, actor)
    details: dict[str, Any] = job_details(
        context.reading(), job_id=job_id, actor=actor, with_invoice=False
    )
    return JobViewOut(
        **job.model_dump(),
        invoice_status=details["invoice_status"],
        money_back=MoneyBackOut(**details["money_back"]),
    )
