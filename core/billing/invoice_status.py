"""One vocabulary for a Stripe invoice's states, and the rules every page and report shares.

Stripe's invoice statuses are draft, open, paid, uncollectible and void. People also see
"none" (no invoice yet) and "overdue" (open past its due date), and, for a paid invoice
whose money moved back (job_money_back, core.billing.money_back), "disputed" (a dispute is
open: its amount is held), "dispute lost", "refunded" (refunds and lost disputes took back
the whole payment) and "partly refunded". All are derived here and nowhere else: in
Python by `shown_status`, in SQL by `shown_status_condition`, which agree.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, or_
from sqlalchemy.sql.elements import ColumnElement

STRIPE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
LIVE = ("open", "paid")  # the customer owes or has paid it
CLOSED = ("void", "uncollectible")  # a new invoice is needed for the payment
# A paid invoice's money moved back, strongest first: an open dispute holds money whatever
# else happened, a lost dispute is a bank's decision against the provider, then refunds.
MONEY_BACK_STATUSES = ("disputed", "dispute lost", "refunded", "partly refunded")
# What a person sees for a job's invoice, in this order on every filter and legend.
SHOWN_STATUSES = (
    "none",
    "draft",
    "open",
    "overdue",
    "paid",
    "partly refunded",
    "refunded",
    "disputed",
    "dispute lost",
    "void",
    "uncollectible",
)

# How far an invoice has gone; our copy of it only ever moves up this scale, so a late
# `invoice.sent` cannot turn a paid invoice back to open.
PROGRESS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


def is_overdue(status: str | None, due_date: datetime | None, now: datetime) -> bool:
    """Open and past its due date: the one definition of "overdue"."""
    return status == "open" and due_date is not None and due_date < now


def overdue_condition(status: Any, due_date: Any, now: datetime) -> ColumnElement[bool]:
    """`is_overdue` as SQL, over the given status and due-date columns."""
    return and_(status == "open", due_date.is_not(None), due_date < now)


def money_back_status(amount: int, refunded: int, disputed: int, dispute_lost: int) -> str:
    """The word for a paid invoice of `amount` cents given what moved back (cents: refunds
    not failed or canceled, held by open disputes, lost in disputes): "paid" when nothing
    did."""
    if disputed > 0:
        return "disputed"
    if dispute_lost > 0:
        return "dispute lost"
    if refunded > 0:
        # With no dispute lost, refunds alone took back the whole payment, or part of it.
        return "refunded" if refunded >= amount else "partly refunded"
    return "paid"


def shown_status(
    status: str | None,
    due_date: datetime | None,
    now: datetime,
    *,
    amount: int = 0,
    refunded: int = 0,
    disputed: int = 0,
    dispute_lost: int = 0,
) -> str:
    """The word a person sees: a Stripe status, "overdue", "none" when not invoiced, or for
    a paid invoice of `amount` cents what moved back of it (the job's job_money_back row;
    zeros when it has none)."""
    if status is None:
        return "none"
    if status == "paid":
        return money_back_status(amount, refunded, disputed, dispute_lost)
    return "overdue" if is_overdue(status, due_date, now) else status


def shown_status_condition(
    words: Collection[str],
    *,
    status: Any,
    due_date: Any,
    now: datetime,
    amount: Any,
    refunded: Any,
    disputed: Any,
    dispute_lost: Any,
) -> ColumnElement[bool]:
    """SQL true where `shown_status` over these columns is one of `words`.

    `status` is NULL where the job has no invoice (an outer join); the money-back columns
    may be NULL where the job has no job_money_back row (an outer join): read as zero.
    Unknown words match nothing.
    """
    back = [func.coalesce(c, 0) for c in (refunded, disputed, dispute_lost)]
    refunded_, disputed_, lost_ = back
    paid = status == "paid"
    each: dict[str, ColumnElement[bool]] = {
        "none": status.is_(None),
        "draft": status == "draft",
        "open": and_(status == "open", or_(due_date.is_(None), due_date >= now)),
        "overdue": overdue_condition(status, due_date, now),
        "paid": and_(paid, refunded_ == 0, disputed_ == 0, lost_ == 0),
        "disputed": and_(paid, disputed_ > 0),
        "dispute lost": and_(paid, disputed_ == 0, lost_ > 0),
        "refunded": and_(paid, disputed_ == 0, lost_ == 0, refunded_ > 0, refunded_ >= amount),
        "partly refunded": and_(
            paid, disputed_ == 0, lost_ == 0, refunded_ > 0, refunded_ < amount
        ),
        "void": status == "void",
        "uncollectible": status == "uncollectible",
    }
    chosen = [each[word] for word in SHOWN_STATUSES if word in words]
    return or_(*chosen) if chosen else false()
