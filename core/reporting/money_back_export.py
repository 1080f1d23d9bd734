"""The refunds-and-disputes export: every refund and dispute between two dates, whatever
its status, each on the day the payments report counts it on (a refund's own day; a
dispute's closing day, or its opening day while it is open), with the cents it counts for
there, so that the export's refunded, disputes lost and held totals are the report's for
the same range (core.reporting.reports). The reason and memo are the words Stripe or a
person wrote: written as text (core.reporting.exports keeps them from reading as formulas).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, case, cast, func, literal, null, select, union_all

from core.billing.money_back import DISPUTE_OPEN
from core.db.models import (
    Customer,
    Job,
    Service,
    ServiceProvider,
    StripeDispute,
    StripeRefund,
)
from core.reporting.exports import Column
from core.reporting.periods import utc_date
from core.reporting.reports import day_bounds

MONEY_BACK_COLUMNS = (
    Column("Date", date=True),  # the day the payments report counts it on
    Column("Type"),  # refund or dispute
    Column("Status"),
    Column("Job #"),
    Column("Provider"),
    Column("Customer"),
    Column("Category"),
    Column("Amount", money=True),
    Column("Refunded", money=True),
    Column("Disputes lost", money=True),
    Column("Held", money=True),
    Column("Reason"),  # Stripe's reason code
    Column("Memo"),  # the person's reason, as they wrote it
    Column("Opened on", date=True),  # a dispute's opening
    Column("Stripe id"),
    Column("Credit note"),
)
MONEY_BACK_NOTES = (
    (
        "Date",
        "the day the payments report counts it on: a refund's own day; a dispute's closing "
        "day, or its opening day while it is open",
    ),
    ("Amount", "the refund's or dispute's amount, whatever its status"),
    ("Refunded", "the amount of a refund that is not failed or canceled, of a received payment"),
    ("Disputes lost", "the amount of a dispute closed as lost (decided for the customer)"),
    ("Held", "the amount of a dispute still open: not taken off unless it is lost"),
    ("Memo", "the reason a person gave for the refund, as they wrote it"),
)


def null_of(column: Any) -> Any:
    """NULL of `column`'s type, so that both halves of the union agree on it."""
    return cast(null(), column.type)


def money_back_query(first: date, last: date, dialect: str) -> Select[Any]:
    """Every refund and dispute dated in the range, each on the day the payments report
    counts it on, with the cents it counts for there: what it has taken off earnings
    (`applied`: 0 for a failed refund, a dispute won, one of a payment not received), or
    what an open dispute holds."""
    start, end = day_bounds(first, last)
    disputed_on = func.coalesce(StripeDispute.closed_at, StripeDispute.created)

    refunds = (
        select(
            StripeRefund.created.label("on"),
            literal("refund").label("type"),
            StripeRefund.status.label("status"),
            StripeRefund.job_id.label("job_id"),
            StripeRefund.amount.label("amount"),
            StripeRefund.applied.label("refunded"),
            literal(0).label("lost"),
            literal(0).label("held"),
            StripeRefund.reason.label("reason"),
            StripeRefund.memo.label("memo"),
            null_of(StripeDispute.created).label("opened"),
            StripeRefund.refund_id.label("stripe_id"),
            StripeRefund.credit_note_id.label("credit_note"),
        )
        .select_from(StripeRefund)
        .where(StripeRefund.created >= start, StripeRefund.created < end)
    )
    disputes = (
        select(
            disputed_on,
            literal("dispute"),
            StripeDispute.status,
            StripeDispute.job_id,
            StripeDispute.amount,
            literal(0),
            StripeDispute.applied,
            case((StripeDispute.status.in_(DISPUTE_OPEN), StripeDispute.amount), else_=0),
            StripeDispute.reason,
            null_of(StripeRefund.memo),
            StripeDispute.created,
            StripeDispute.dispute_id,
            null_of(StripeRefund.credit_note_id),
        )
        .select_from(StripeDispute)
        .where(disputed_on >= start, disputed_on < end)
    )
    moved = union_all(refunds, disputes).subquery()
    c = moved.c
    return (
        select(
            utc_date(c.on, dialect),
            c.type,
            c.status,
            c.job_id,
            ServiceProvider.name,
            Customer.name,
            Service.category,
            c.amount,
            c.refunded,
            c.lost,
            c.held,
            c.reason,
            c.memo,
            utc_date(c.opened, dialect),
            c.stripe_id,
            c.credit_note,
        )
        .select_from(moved)
        .join(Job, Job.id == c.job_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Customer, Customer.id == Job.customer_id)
        .order_by(c.on, c.type.desc(), c.stripe_id)
    )
