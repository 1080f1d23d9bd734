"""A provider's money: balance, jobs paid, what is still owed, and how it adds up.

Every figure is computed in SQL from the rows, in cents, scoped to one provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.auth import Actor
from core.errors import NotFound
from core.models import Job, Payment, ServiceProvider


@dataclass(frozen=True)
class EarningsSummary:
    provider_id: int
    balance: int  # cents credited by received payments
    jobs_paid: int
    outstanding: int  # cents billed for completed jobs not yet paid
    jobs_outstanding: int


def summary(session: Session, *, provider_id: int, actor: Actor) -> EarningsSummary:
    if actor.role == "provider" and actor.id != provider_id:
        raise NotFound(f"No provider #{provider_id}")
    if actor.role == "customer":
        raise NotFound(f"No provider #{provider_id}")
    provider = session.get(ServiceProvider, provider_id)
    if provider is None:
        raise NotFound(f"No provider #{provider_id}")
    outstanding, count = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.provider_id == provider_id, Job.status == "completed")
    ).one()
    return EarningsSummary(
        provider_id=provider_id,
        balance=provider.earnings,
        jobs_paid=provider.total_jobs,
        outstanding=int(outstanding),
        jobs_outstanding=int(count),
    )


def received_by_provider(session: Session) -> dict[int, tuple[int, int]]:
    """Per provider: (sum of received payments in cents, number of them)."""
    rows = session.execute(
        select(Job.provider_id, func.coalesce(func.sum(Payment.amount), 0), func.count())
        .join(Payment, Payment.job_id == Job.id)
        .where(Payment.status == "received")
        .group_by(Job.provider_id)
    )
    return {provider_id: (int(total), int(count)) for provider_id, total, count in rows}


def ledger_mismatches(session: Session) -> list[str]:
    """Providers whose earnings or job count disagree with their received payments.

    Empty when DESIGN.md's "money adds up" invariant holds.
    """
    received = received_by_provider(session)
    problems = []
    for provider in session.scalars(select(ServiceProvider).order_by(ServiceProvider.id)):
        total, count = received.get(provider.id, (0, 0))
        if (provider.earnings, provider.total_jobs) != (total, count):
            problems.append(
                f"provider #{provider.id}: earnings {provider.earnings} / {provider.total_jobs} "
                f"jobs, received payments {total} / {count}"
            )
    return problems
