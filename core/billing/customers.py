"""Our record of which Stripe customer stands for which of our customers.

Stripe holds the link too (`metadata.user_id` on the customer), but asking Stripe costs a
search on every invoice and lags writes by up to a minute; our row costs one primary-key
read, and lets a webhook check that an invoice belongs to the job's customer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db.models import StripeCustomer
from core.db.session import insert_ignoring_conflict


def known_stripe_customer(session: Session, customer_id: int) -> str | None:
    row = session.get(StripeCustomer, customer_id)
    return row.stripe_customer_id if row is not None else None


def remember_stripe_customer(session: Session, customer_id: int, stripe_customer_id: str) -> None:
    """Record the link once; the first one recorded stays (Stripe's search agrees on it)."""
    insert_ignoring_conflict(
        session,
        StripeCustomer,
        {"customer_id": customer_id, "stripe_customer_id": stripe_customer_id},
    )
