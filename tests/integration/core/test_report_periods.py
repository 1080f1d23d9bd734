"""Payments received by day, week or month list every period of the range, in order, the
empty ones at zero, with the same total, on SQLite and PostgreSQL: payments on the first
and last second of UTC days, and a range that starts and ends inside a week and a month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from core.context import AppContext
from core.db.models import Job, Payment
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import reports
from core.reporting.periods import period_labels
from tests.support.factories import marketplace, new_job

FINANCE = Actor("finance", 1)
START, END = date(2026, 1, 14), date(2026, 3, 4)  # a Wednesday to a Wednesday
# (paid at, completed at, cents): two on 15 January, one on 2 February, none in between.
PAYMENTS = [
    (datetime(2026, 1, 15, 0, 0, 0, tzinfo=UTC), datetime(2026, 1, 10, 9, tzinfo=UTC), 1000),
    (datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC), datetime(2026, 1, 15, 9, tzinfo=UTC), 2000),
    (datetime(2026, 2, 2, 12, tzinfo=UTC), datetime(2026, 1, 31, 9, tzinfo=UTC), 4000),
    # Outside the range on both sides: counted nowhere.
    (datetime(2026, 1, 13, 23, 59, 59, tzinfo=UTC), datetime(2026, 1, 13, 9, tzinfo=UTC), 8),
    (datetime(2026, 3, 5, 0, 0, 0, tzinfo=UTC), datetime(2026, 3, 5, 0, 0, 1, tzinfo=UTC), 16),
]


@pytest.fixture
def received(ctx: AppContext) -> AppContext:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        for paid_at, completed_at, cents in PAYMENTS:
            job = new_job(session, customer, provider, service, price=cents + 5000)
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(status="paid", completed_at=completed_at, paid_at=paid_at)
            )
            session.execute(
                update(Payment)
                .where(Payment.job_id == job.id)
                .values(amount=cents, status="received", method="stripe", marked_at=paid_at)
            )
    return ctx


def report(ctx: AppContext, group_by: reports.Grouping, basis: reports.Basis) -> reports.Report:
    with session_scope(ctx.readers) as session:
        return reports.payments_received(
            session, actor=FINANCE, start=START, end=END, group_by=group_by, basis=basis
        )


def days(first: date, last: date) -> list[str]:
    return [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]


def test_every_day_of_the_range_is_a_row(received: AppContext) -> None:
    by_day = report(received, "day", "paid")
    assert [r.label for r in by_day.rows] == days(START, END)
    counted = {r.label: (r.payments, r.amount) for r in by_day.rows if r.payments}
    assert counted == {"2026-01-15": (2, 3000), "2026-02-02": (1, 4000)}
    assert all(r.amount == 0 for r in by_day.rows if not r.payments)
    assert (by_day.total.payments, by_day.total.amount) == (3, 7000)


def test_weeks_start_on_the_monday_before_the_range(received: AppContext) -> None:
    by_week = report(received, "week", "paid")
    mondays = [str(date(2026, 1, 12) + timedelta(weeks=n)) for n in range(8)]
    assert [r.label for r in by_week.rows] == mondays  # 12 January to 2 March
    assert [(r.payments, r.amount) for r in by_week.rows] == [
        (2, 3000),
        (0, 0),
        (0, 0),
        (1, 4000),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
    ]
    assert (by_week.total.payments, by_week.total.amount) == (3, 7000)


def test_months_and_the_completed_date(received: AppContext) -> None:
    by_month = report(received, "month", "paid")
    assert [(r.label, r.payments, r.amount) for r in by_month.rows] == [
        ("2026-01-01", 2, 3000),
        ("2026-02-01", 1, 4000),
        ("2026-03-01", 0, 0),
    ]
    # On the completed date the first payment (completed 10 January) is out of the range.
    by_completion = report(received, "day", "completed")
    assert [r.label for r in by_completion.rows] == days(START, END)
    assert {r.label: r.amount for r in by_completion.rows if r.payments} == {
        "2026-01-15": 2000,
        "2026-01-31": 4000,
    }
    assert by_completion.total.amount == 6000


def test_a_range_with_no_payments_is_all_zero_rows(received: AppContext) -> None:
    with session_scope(received.readers) as session:
        empty = reports.payments_received(
            session,
            actor=FINANCE,
            start=date(2025, 6, 1),
            end=date(2025, 6, 3),
            group_by="day",
        )
    assert [(r.label, r.payments, r.amount) for r in empty.rows] == [
        ("2025-06-01", 0, 0),
        ("2025-06-02", 0, 0),
        ("2025-06-03", 0, 0),
    ]
    assert (empty.total.payments, empty.total.amount) == (0, 0)


def test_period_labels_cover_the_range() -> None:
    one_day = date(2026, 2, 28)
    assert period_labels(one_day, one_day, "day") == ["2026-02-28"]
    assert period_labels(one_day, one_day, "week") == ["2026-02-23"]
    assert period_labels(one_day, one_day, "month") == ["2026-02-01"]
    assert period_labels(date(2025, 11, 30), date(2026, 2, 1), "month") == [
        "2025-11-01",
        "2025-12-01",
        "2026-01-01",
        "2026-02-01",
    ]
    assert period_labels(date(2026, 1, 31), date(2026, 3, 1), "month") == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
    ]
    assert len(period_labels(date(2024, 1, 1), date(2024, 12, 31), "day")) == 366
    assert period_labels(date(2026, 1, 5), date(2026, 1, 11), "week") == ["2026-01-05"]
    assert period_labels(date(2026, 1, 5), date(2026, 1, 12), "week") == [
        "2026-01-05",
        "2026-01-12",
    ]
