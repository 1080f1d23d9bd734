"""Small builders for domain rows, so tests say only what matters to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.context import AppContext
from core.db.models import Customer, Job, Service, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job, create_job
from tests.support.sandbox import SandboxControl


def marketplace(session: Session) -> tuple[Customer, ServiceProvider, Service]:
    """One customer, one provider, one service (Plumbing, $150.00)."""
    customer = Customer(name="Ann Lee", email="ann@example.com", phone="+1-555-0100")
    provider = ServiceProvider(name="Rivera Plumbing", email="maria@example.com")
    service = Service(name="Plumbing", category="Home Repair", base_price=15000)
    session.add_all([customer, provider, service])
    session.flush()
    return customer, provider, service


def new_job(
    session: Session,
    customer: Customer,
    provider: ServiceProvider,
    service: Service,
    price: int = 15000,
) -> Job:
    return create_job(
        session,
        customer_id=customer.id,
        provider_id=provider.id,
        service_id=service.id,
        price=price,
        description="Kitchen sink",
    )


@dataclass(frozen=True)
class Market:
    """The ids of one customer, one provider and one service (see `marketplace`)."""

    customer_id: int
    provider_id: int
    service_id: int

    @property
    def provider(self) -> Actor:
        return Actor("provider", self.provider_id)


def job_for(
    ctx: AppContext, market: Market, price: int = 15000, description: str | None = None
) -> int:
    """A new job in its own transaction; returns its id."""
    with session_scope(ctx.sessions) as session:
        return create_job(
            session,
            customer_id=market.customer_id,
            provider_id=market.provider_id,
            service_id=market.service_id,
            price=price,
            description=description,
        ).id


def invoiced_job(ctx: AppContext, market: Market) -> tuple[int, str]:
    """A completed job with its invoice open and sent, as the clean flow leaves it."""
    job_id = job_for(ctx, market)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    assert result.invoice.status == "open"
    return job_id, result.invoice.invoice_id


def invoice_in_stripe(
    sandbox: SandboxControl,
    *,
    customer: str,
    job_id: int,
    payment_id: int,
    amount: int | None,
    finalize: bool,
) -> str:
    """An invoice for the job made directly in Stripe (the dashboard, another script)."""
    metadata = {"job_id": str(job_id), "payment_id": str(payment_id)}
    invoice = sandbox.client.v1.invoices.create(
        params={
            "customer": customer,
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "auto_advance": False,
            "currency": "usd",
            "metadata": metadata,
        }
    )
    assert invoice.id is not None
    if amount is not None:
        sandbox.client.v1.invoice_items.create(
            params={
                "customer": customer,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "description": "Plumbing - Home Repair",
                "metadata": metadata,
            }
        )
    if finalize:
        sandbox.client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": False})
    return invoice.id
