"""Small builders for domain rows, so tests say only what matters to them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.jobs import create_job
from core.models import Customer, Job, Service, ServiceProvider


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
