"""One vocabulary for a Stripe invoice's states, and the rules every page and report shares.

Stripe's invoice statuses are draft, open, paid, uncollectible and void. People also see
"none" (no invoice yet) and "overdue" (open past its due date); both are derived here and
nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.sql.elements import ColumnElement

STRIPE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
LIVE = ("open", "paid")  # the customer owes or has paid it
CLOSED = ("void", "uncollectible")  # a new invoice is needed for the payment
# What a person sees for a job's invoice, in this order on every filter and legend.
SHOWN_STATUSES = ("none", "draft", "open", "overdue", "paid", "void", "uncollectible")

# How far an invoice has gone; our copy of it only ever moves up this scale, so a late
# `invoice.sent` cannot turn a paid invoice back to open.
PROGRESS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


def is_overdue(status: str | None, due_date: datetime | None, now: datetime) -> bool:
    """Open and past its due date: the one definition of "overdue"."""
    return status == "open" and due_date is not None and due_date < now


def overdue_condition(status: Any, due_date: Any, now: datetime) -> ColumnElement[bool]:
    """`is_overdue` as SQL, over the given status and due-date columns."""
    return and_(status == "open", due_date.is_not(None), due_date < now)


def shown_status(status: str | None, due_date: datetime | None, now: datetime) -> str:
    """The word a person sees: a Stripe status, "overdue", or "none" when not invoiced."""
    if status is None:
        return "none"
    return "overdue" if is_overdue(status, due_date, now) else status
