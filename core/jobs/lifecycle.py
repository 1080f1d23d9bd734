"""The job lifecycle: new → completed → paid, or new → cancelled.

Completing a job sets the payment's amount and then invoices it; the completion is
committed first, so a Stripe failure leaves a completed job that "send invoice" retries.
Admins may also book a job on a customer's behalf (`create_job_for_customer`) and cancel
a completed job that was not paid (core.billing.admin_actions.cancel_unpaid_job, which
voids its invoice).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit import record
from core.billing.invoicing import InvoiceResult, process_job_payment
from core.context import AppContext
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, utcnow
from core.db.session import session_scope
from core.errors import Conflict, InvalidInput, InvoicingFailed, NotFound
from core.identity.actor import Actor
from core.identity.permissions import load_job, require
from core.money import check_price

DESCRIPTION_LIMIT = 2000


def create_job(
    session: Session,
    *,
    customer_id: int,
    provider_id: int,
    service_id: int,
    price: int,
    description: str | None = None,
    currency: str = "usd",
) -> Job:
    """A new job with its pending payment of 0 (the amount is set when the job completes).

    The price must be one Stripe can charge in `currency` (the configured one)."""
    check_price(price, currency)
    if description is not None and len(description) > DESCRIPTION_LIMIT:
        raise InvalidInput("description is limited to 2000 characters")
    for model, key, label in (
        (Customer, customer_id, "customer"),
        (ServiceProvider, provider_id, "provider"),
        (Service, service_id, "service"),
    ):
        if session.get(model, key) is None:
            raise NotFound(f"No {label} #{key}")
    job = Job(
        customer_id=customer_id,
        provider_id=provider_id,
        service_id=service_id,
        price=price,
        description=description,
        status="new",
    )
    session.add(job)
    session.flush()
    session.add(Payment(job_id=job.id, amount=0, status="pending"))
    session.flush()
    return job


@dataclass(frozen=True)
class CompletionResult:
    job_id: int
    invoice: InvoiceResult | None
    error: InvoicingFailed | None


def complete_job(ctx: AppContext, *, job_id: int, actor: Actor) -> CompletionResult:
    """Mark a new job completed (its provider, or staff), then invoice it.

    Completing twice is refused, so a second click cannot start a second invoice; a job
    whose invoicing failed stays completed and is retried with "send invoice".
    """
    require(actor, "job.complete")
    with session_scope(ctx.sessions) as session:
        job = load_job(session, job_id, actor)
        if job.status == "new":
            # A price set before the minimum-charge rule would reach Stripe as an invoice it
            # marks paid with nothing collected: refuse before anything changes.
            check_price(job.price, ctx.settings.currency)
        now = utcnow()
        changed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "new")
            .values(status="completed", completed_at=now)
        )
        if getattr(changed, "rowcount", 0) != 1:
            raise Conflict(
                f"Job #{job_id} is {job.status}; only a new job can be completed"
                + (" (use send-invoice to retry its invoice)" if job.status == "completed" else "")
            )
        session.execute(update(Payment).where(Payment.job_id == job_id).values(amount=job.price))
        record(
            session,
            actor=actor,
            action="job.completed",
            job_id=job_id,
            before={"status": "new"},
            after={"status": "completed", "amount": job.price},
        )
    try:
        invoice = process_job_payment(ctx, job_id=job_id, actor=actor)
    except InvoicingFailed as failure:
        return CompletionResult(job_id, None, failure)
    return CompletionResult(job_id, invoice, None)


def cancel_job(session: Session, *, job_id: int, actor: Actor, reason: str | None = None) -> Job:
    """Cancel a job that has not been done yet."""
    job = load_job(session, job_id, actor)
    require(actor, "job.cancel")
    changed = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "new").values(status="cancelled")
    )
    if getattr(changed, "rowcount", 0) != 1:
        raise Conflict(f"Job #{job_id} is {job.status}; only a new job can be cancelled")
    record(
        session,
        actor=actor,
        action="job.cancelled",
        job_id=job_id,
        reason=reason,
        before={"status": "new"},
        after={"status": "cancelled"},
    )
    session.refresh(job)
    return job


def offered_services(session: Session, provider_id: int) -> dict[int, str]:
    """The services a provider offers, by id: those they have taken jobs for (the
    marketplace keeps no other list of what each provider does)."""
    rows = session.execute(
        select(Service.id, Service.name)
        .where(Service.id.in_(select(Job.service_id).where(Job.provider_id == provider_id)))
        .order_by(Service.name)
    )
    return {int(service_id): str(name) for service_id, name in rows}


def create_job_for_customer(
    ctx: AppContext,
    *,
    actor: Actor,
    customer_id: int,
    provider_id: int,
    service_id: int,
    price: int,
    description: str | None = None,
) -> int:
    """An admin books a job on a customer's behalf: the same rules as a customer's own
    booking, and the provider must offer the service; audited with the job. Returns its id."""
    require(actor, "job.create_for_customer")
    description = (description or "").strip() or None
    with session_scope(ctx.sessions) as session:
        customer = session.get(Customer, customer_id)
        provider = session.get(ServiceProvider, provider_id)
        service = session.get(Service, service_id)
        if customer is None:
            raise NotFound(f"No customer #{customer_id}")
        if provider is None:
            raise NotFound(f"No provider #{provider_id}")
        if service is None:
            raise NotFound(f"No service #{service_id}")
        offered = offered_services(session, provider_id)
        if service_id not in offered:
            what = ", ".join(offered.values()) or "no service yet"
            raise InvalidInput(f"{provider.name} does not offer {service.name}; they offer {what}.")
        job = create_job(
            session,
            customer_id=customer_id,
            provider_id=provider_id,
            service_id=service_id,
            price=price,
            description=description,
            currency=ctx.settings.currency,
        )
        record(
            session,
            actor=actor,
            action="job.created",
            job_id=job.id,
            after={
                "customer": customer.name,
                "provider": provider.name,
                "service": service.name,
                "price": price,
                "description": description,
            },
        )
        return job.id
