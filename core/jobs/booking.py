"""What an admin picks from when booking a job on a customer's behalf: customers found by
name, e-mail or number (the provider's services are `lifecycle.offered_services`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db.models import Customer
from core.identity.actor import Actor
from core.identity.permissions import require


@dataclass(frozen=True)
class CustomerChoice:
    id: int
    name: str
    email: str


def customers_matching(
    session: Session, text: str, *, actor: Actor, limit: int = 20
) -> list[CustomerChoice]:
    """Customers whose name or e-mail holds `text` (any case), or whose number it is."""
    require(actor, "job.create_for_customer")
    wanted = text.strip().lower().removeprefix("#")
    if not wanted:
        return []
    matches = [
        func.lower(Customer.name).contains(wanted, autoescape=True),
        func.lower(Customer.email).contains(wanted, autoescape=True),
    ]
    if wanted.isdigit():
        matches.append(Customer.id == int(wanted))
    rows = session.execute(
        select(Customer.id, Customer.name, Customer.email)
        .where(or_(*matches))
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    return [CustomerChoice(*row) for row in rows]
