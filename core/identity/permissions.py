"""Who may see which job. Scope is enforced here, in the queries, not only in the UI:
a provider reaches only their own jobs, a customer only theirs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.auth import Actor
from core.errors import NotFound
from core.models import Job


def load_job(session: Session, job_id: int, actor: Actor) -> Job:
    """The job with its service, customer, provider and payment, if the actor may see it.

    Someone else's job is "not found", not "forbidden", so ids cannot be probed.
    """
    job = session.scalar(
        select(Job)
        .where(Job.id == job_id)
        .options(
            joinedload(Job.service),
            joinedload(Job.customer),
            joinedload(Job.provider),
            joinedload(Job.payment),
        )
    )
    if job is None or not can_see(actor, job):
        raise NotFound(f"No job #{job_id}")
    return job


def can_see(actor: Actor, job: Job) -> bool:
    if actor.role in ("admin", "finance", "system"):
        return True
    if actor.role == "provider":
        return job.provider_id == actor.id
    return actor.role == "customer" and job.customer_id == actor.id
