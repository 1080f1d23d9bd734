"""Finance reports: payments received by period, provider or category (aging: core.reporting.aging).

Everything is aggregated in SQL, in cents. A report's rows always come with a totals row
that equals the sum of the rows. A report by day, week or month has a row for every period
of its range, in order, the ones nothing was received in at zero: the database counts the
periods that have payments, and the rest are filled in from the calendar here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Job, Payment, Service, ServiceProvider
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting.periods import period_key, period_label, period_labels

Basis = Literal["paid", "completed"]
Grouping = Literal["day", "week", "month", "provider", "category"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month", "provider", "category")
BASIS_TEXT: dict[Basis, str] = {"paid": "paid date", "completed": "completed date"}


@dataclass(frozen=True)
class ReportRow:
    label: str
    payments: int
    amount: int  # cents


@dataclass(frozen=True)
class Report:
    title: str
    rows: list[ReportRow]

    @property
    def total(self) -> ReportRow:
        return ReportRow(
            "Total", sum(r.payments for r in self.rows), sum(r.amount for r in self.rows)
        )


def payments_received(
    session: Session,
    *,
    actor: Actor,
    start: date,
    end: date,
    group_by: Grouping,
    basis: Basis = "paid",
) -> Report:
    """Received payments between two dates (inclusive), dated by payment or completion."""
    require(actor, "reports.read")
    if end < start:
        raise InvalidInput("the end date is before the start date")
    if group_by not in GROUPINGS or basis not in ("paid", "completed"):
        raise InvalidInput("unknown grouping or date basis")
    when = Payment.marked_at if basis == "paid" else Job.completed_at
    in_range = [
        Payment.status == "received",
        when >= datetime.combine(start, time(), UTC),
        when < datetime.combine(end + timedelta(days=1), time(), UTC),
    ]
    # Only the tables the grouping and the date need: every payment has exactly one job
    # (a required foreign key), and a job one provider and one service.
    rows: Iterable[Any]
    if group_by == "provider" or group_by == "category":
        # By id first (small integer keys, no name read per payment), then by name: two
        # providers (or services) of one name still make one row, as grouping by it does.
        owner, name = (
            (Job.provider_id, ServiceProvider.name)
            if group_by == "provider"
            else (Job.service_id, Service.category)
        )
        named_table = ServiceProvider if group_by == "provider" else Service
        per_id = (
            select(
                owner.label("owner"), func.count().label("n"), func.sum(Payment.amount).label("s")
            )
            .select_from(Payment)
            .join(Job, Job.id == Payment.job_id)
            .where(*in_range)
            .group_by(owner)
            .subquery()
        )
        rows = session.execute(
            select(name, func.sum(per_id.c.n), func.sum(per_id.c.s))
            .select_from(per_id)
            .join(named_table, named_table.id == per_id.c.owner)
            .group_by(name)
            .order_by(name)
        )
        label: Callable[[Any], str] = str
    else:
        key = period_key(when, group_by, session.get_bind().dialect.name)
        query = select(key, func.count(), func.sum(Payment.amount)).select_from(Payment)
        if basis == "completed":
            query = query.join(Job, Job.id == Payment.job_id)
        counted = {
            period_label(name): (count, amount)
            for name, count, amount in session.execute(query.where(*in_range).group_by(key))
        }
        # 'YYYY-MM-DD' labels sort as their periods do; the union keeps every counted row.
        periods = sorted(set(period_labels(start, end, group_by)) | counted.keys())
        rows = ((name, *counted.get(name, (0, 0))) for name in periods)
        label = str
    return Report(
        f"Payments received by {group_by}, {start} to {end} ({BASIS_TEXT[basis]})",
        [ReportRow(label(name), int(count), int(amount)) for name, count, amount in rows],
    )
