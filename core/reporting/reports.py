"""Finance reports: payments received by period, provider or category (aging: core.reporting.aging).

Everything is aggregated in SQL, in cents. A report's rows always come with a totals row
that equals the sum of the rows. A report by day, week or month has a row for every period
of its range, in order, the ones nothing was received in at zero: the database counts the
periods that have payments, and the rest are filled in from the calendar here.

Each row shows money that moved back beside what came in (`MONEY_BACK_NOTES`): gross is
the payments received, dated by the chosen basis; refunded is the refunds of received
payments (not failed or canceled), dated by the refund; disputes lost are dated by when the
dispute closed; net is gross less both. A refund in December of a November payment leaves
November's gross as it was and is December's refund. Held is what disputes still open
hold now, by the day they opened: shown apart, not taken off. By provider or category,
money back belongs to its job's provider or category. The refund and dispute tables are
small, so they are aggregated on their own and merged into the payments' rows: the scan
of the payments stays what it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import CompoundSelect, Select, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from core.billing.money_back import DISPUTE_OPEN
from core.db.models import Job, Payment, Service, ServiceProvider, StripeDispute, StripeRefund
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting.periods import period_key, period_label, period_labels

Basis = Literal["paid", "completed"]
Grouping = Literal["day", "week", "month", "provider", "category"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month", "provider", "category")
BASIS_TEXT: dict[Basis, str] = {"paid": "paid date", "completed": "completed date"}


def money_back_notes(basis: Basis) -> list[tuple[str, str]]:
    """What each money column of a payments report means, and the date it is counted on."""
    return [
        ("Gross", f"payments received, on their {BASIS_TEXT[basis]}"),
        (
            "Refunded",
            "refunds of received payments, not failed or canceled, on the day of the refund "
            "(not of the payment)",
        ),
        (
            "Disputes lost",
            "disputes closed in the customer's favour (lost), on the day they closed",
        ),
        ("Net", "gross - refunded - disputes lost"),
        (
            "Held",
            "what disputes still open hold now, on the day they opened; not taken off the net "
            "unless they are lost",
        ),
    ]


@dataclass(frozen=True)
class ReportRow:
    label: str
    payments: int
    amount: int  # cents received: the gross
    refunded: int = 0  # cents
    disputed: int = 0  # cents of lost disputes
    held: int = 0  # cents open disputes hold

    @property
    def gross(self) -> int:
        return self.amount

    @property
    def net(self) -> int:
        return self.amount - self.refunded - self.disputed


@dataclass(frozen=True)
class Report:
    title: str
    rows: list[ReportRow]

    @property
    def total(self) -> ReportRow:
        return ReportRow(
            "Total",
            sum(r.payments for r in self.rows),
            sum(r.amount for r in self.rows),
            sum(r.refunded for r in self.rows),
            sum(r.disputed for r in self.rows),
            sum(r.held for r in self.rows),
        )


Moved = tuple[int, int, int]  # cents refunded, lost in disputes, held in open disputes


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The first moment of `start` and the first moment after `end` (UTC)."""
    after = end + timedelta(days=1)
    return datetime.combine(start, time(), UTC), datetime.combine(after, time(), UTC)


def _between(column: Any, start: date, end: date) -> Any:
    first, after = day_bounds(start, end)
    return and_(column >= first, column < after)


def money_back_rows(
    since: datetime, until: datetime | None, key: Callable[[Any], Any], *, with_job: bool
) -> CompoundSelect[Any]:
    """Money back from `since` to before `until` (None: no end), one row per refund or
    dispute: (k, refunded, lost, held) in cents. `key` gets the row's
    date column (the refund's, the dispute's close or opening) and gives what it is grouped
    by; with `with_job`, the job is joined so that `key` may use its columns instead."""

    def dated(column: Any) -> Any:
        return column >= since if until is None else and_(column >= since, column < until)

    # A refund's and a dispute's `applied` is what it has taken off the provider's earnings
    # (core.billing.money_back): its amount once it counts against a received payment.
    # Reading it spares joining the payments, which would cost a scan of them.
    lost_on = func.coalesce(StripeDispute.closed_at, StripeDispute.created)

    def row(on: Any, refunded: Any = 0, lost: Any = 0, held: Any = 0) -> Select[Any]:
        cents = {"refunded": refunded, "lost": lost, "held": held}
        return select(
            key(on).label("k"),
            *(
                (literal(value) if isinstance(value, int) else value).label(name)
                for name, value in cents.items()
            ),
        )

    refunds = (
        row(StripeRefund.created, refunded=StripeRefund.applied)
        .select_from(StripeRefund)
        .where(StripeRefund.applied > 0, dated(StripeRefund.created))
    )
    lost = (
        row(lost_on, lost=StripeDispute.applied)
        .select_from(StripeDispute)
        .where(StripeDispute.applied > 0, dated(lost_on))
    )
    held = (
        row(StripeDispute.created, held=StripeDispute.amount)
        .select_from(StripeDispute)
        .where(StripeDispute.status.in_(DISPUTE_OPEN), dated(StripeDispute.created))
    )
    if with_job:
        refunds = refunds.join(Job, Job.id == StripeRefund.job_id)
        lost = lost.join(Job, Job.id == StripeDispute.job_id)
        held = held.join(Job, Job.id == StripeDispute.job_id)
    return union_all(refunds, lost, held)


def _as_moved(refunded: Any, lost: Any, held: Any) -> Moved:
    return int(refunded or 0), int(lost or 0), int(held or 0)


def _title(group_by: Grouping, start: date, end: date, basis: Basis) -> str:
    return f"Payments received by {group_by}, {start} to {end} ({BASIS_TEXT[basis]})"


def payments_received(
    session: Session,
    *,
    actor: Actor,
    start: date,
    end: date,
    group_by: Grouping,
    basis: Basis = "paid",
) -> Report:
    """Received payments between two dates (inclusive), dated by payment or completion,
    with the money that moved back in that time beside them (see the module)."""
    require(actor, "reports.read")
    if end < start:
        raise InvalidInput("the end date is before the start date")
    if group_by not in GROUPINGS or basis not in ("paid", "completed"):
        raise InvalidInput("unknown grouping or date basis")
    if group_by == "provider" or group_by == "category":
        found = _by_owner(session, start, end, group_by, basis)
    else:
        found = _by_period(session, start, end, group_by, basis)
    return Report(_title(group_by, start, end, basis), found)


def _received_in(start: date, end: date, basis: Basis) -> tuple[Any, list[Any]]:
    when = Payment.marked_at if basis == "paid" else Job.completed_at
    return when, [Payment.status == "received", _between(when, start, end)]


def _by_owner(
    session: Session, start: date, end: date, group_by: Grouping, basis: Basis
) -> list[ReportRow]:
    # Only the tables the grouping and the date need: every payment has exactly one job
    # (a required foreign key), and a job one provider and one service. By id first (small
    # integer keys, no name read per payment), then by name: two providers (or services)
    # of one name still make one row, as grouping by it does. The money back, summed by id
    # on its own, joins the payments' sums there.
    _, in_range = _received_in(start, end, basis)
    owner, name = (
        (Job.provider_id, ServiceProvider.name)
        if group_by == "provider"
        else (Job.service_id, Service.category)
    )
    named_table = ServiceProvider if group_by == "provider" else Service

    def zero(name: str) -> Any:
        return literal(0).label(name)

    paid = (
        select(
            owner.label("owner"),
            func.count().label("n"),
            func.sum(Payment.amount).label("s"),
            *(zero(name) for name in ("refunded", "lost", "held")),
        )
        .select_from(Payment)
        .join(Job, Job.id == Payment.job_id)
        .where(*in_range)
        .group_by(owner)
    )
    back = money_back_rows(*day_bounds(start, end), lambda _: owner, with_job=True).subquery()
    k, *moved = back.c
    back_by_owner = select(k, zero("n"), zero("s"), *(func.sum(c) for c in moved)).group_by(k)
    per_id = union_all(paid, back_by_owner).subquery()
    owner_id, *figures = per_id.c
    rows = session.execute(
        select(name, *(func.sum(c) for c in figures))
        .select_from(per_id)
        .join(named_table, named_table.id == owner_id)
        .group_by(name)
        .order_by(name)
    )
    return [
        ReportRow(str(label), int(n), int(s or 0), *_as_moved(r, lost, held))
        for label, n, s, r, lost, held in rows
    ]


def _by_period(
    session: Session, start: date, end: date, group_by: Grouping, basis: Basis
) -> list[ReportRow]:
    # The database counts the periods that have payments (or money back), each in its own
    # statement; every other period of the range is filled in at zero.
    when, in_range = _received_in(start, end, basis)
    dialect = session.get_bind().dialect.name
    period: Any = group_by
    key = period_key(when, period, dialect)
    query = select(key, func.count(), func.sum(Payment.amount)).select_from(Payment)
    if basis == "completed":
        query = query.join(Job, Job.id == Payment.job_id)
    counted = {
        period_label(name): (int(count), int(amount))
        for name, count, amount in session.execute(query.where(*in_range).group_by(key))
    }
    back = money_back_rows(
        *day_bounds(start, end), lambda at: period_key(at, period, dialect), with_job=False
    ).subquery()
    k, *moved = back.c
    money_back = {
        period_label(name): _as_moved(*figures)
        for name, *figures in session.execute(select(k, *(func.sum(c) for c in moved)).group_by(k))
    }
    # 'YYYY-MM-DD' labels sort as their periods do; the union keeps every counted row.
    labels = sorted(set(period_labels(start, end, period)) | counted.keys() | money_back.keys())
    return [
        ReportRow(name, *counted.get(name, (0, 0)), *money_back.get(name, (0, 0, 0)))
        for name in labels
    ]
