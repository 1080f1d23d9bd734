"""Small builders for domain rows, so tests say only what matters to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.context import AppContext
from core.db.models import Customer, Job, Service, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import create_job


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
