"""Earnings figures: months in the window, and scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.context import AppContext
from core.db.models import Payment
from core.db.session import session_scope
from core.errors import NotFound
from core.identity.actor import SYSTEM, Actor
from core.reporting.earnings import by_month
from tests.support.factories import marketplace, new_job


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        (datetime(2026, 11, 26, tzinfo=UTC), "2025-12-01", "2026-11-01"),
        (datetime(2026, 1, 31, tzinfo=UTC), "2025-02-01", "2026-01-01"),
        (datetime(2026, 12, 1, tzinfo=UTC), "2026-01-01", "2026-12-01"),
    ],
)
def test_by_month_covers_exactly_twelve_months_ending_with_this_one(
    ctx: AppContext, now: datetime, first: str, last: str
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job = new_job(session, customer, provider, service)
        job.status = "paid"
        payment = session.query(Payment).filter_by(job_id=job.id).one()
        payment.status, payment.amount, payment.marked_at = "received", 15000, now
        months = by_month(session, provider_id=provider.id, actor=SYSTEM, now=now)
    assert len(months) == 12
    assert (months[0].label, months[-1].label) == (first, last)
    assert months[-1].amount == 15000 and sum(m.amount for m in months) == 15000


def test_another_providers_months_are_not_found(ctx: AppContext) -> None:
    with session_scope(ctx.sessions) as session:
        _, provider, _ = marketplace(session)
        with pytest.raises(NotFound):
            by_month(session, provider_id=provider.id, actor=Actor("provider", provider.id + 1))
