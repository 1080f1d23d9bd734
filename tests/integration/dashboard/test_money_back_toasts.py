"""Money moving back while a page is open: the provider whose job it is hears of a refund or
a dispute on the next timer tick, in a toast with its amount, and the notifications badge
follows; admins hear of a dispute opened, which needs an answer by its due date."""

from __future__ import annotations

from datetime import UTC, datetime

from core.context import AppContext
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Small,
    nav_titles,
    run_fragments,
    signed_in,
    toasts,
)
from tests.support.money_back_told import dispute_told, mark_paid, refund_told


def test_the_provider_hears_of_a_refund_and_a_dispute_on_their_job(
    small: Small, dashboard: AppContext
) -> None:
    mark_paid(dashboard, small.job_id, 15000)
    at = signed_in(small.email, small.password)
    assert toasts(run_fragments(at)) == []

    refund_told(dashboard, small.job_id, 5000, refund_id="re_toast", memo="**Late** <b>x</b>")
    run_fragments(at)
    assert toasts(at) == [f"Refund on job #{small.job_id}: $50.00 back to the customer"]
    assert nav_titles(at)[-1] == "Notifications (1)"
    assert toasts(run_fragments(at)) == []  # told once

    dispute_told(dashboard, small.job_id, 10000, dispute_id="dp_toast")
    run_fragments(at)
    assert toasts(at) == [
        f"Payment disputed on job #{small.job_id}: $100.00 held until the bank decides"
    ]


def test_admins_hear_of_a_dispute_opened_and_when_it_must_be_answered(
    small: Small, staff: None, dashboard: AppContext
) -> None:
    mark_paid(dashboard, small.job_id, 15000)
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert toasts(run_fragments(at)) == []
    refund_told(dashboard, small.job_id, 5000, refund_id="re_admin_toast")
    assert toasts(run_fragments(at)) == []  # a refund asks nothing of admins

    due = datetime(2026, 12, 20, 23, 59, tzinfo=UTC)
    dispute_told(dashboard, small.job_id, 10000, dispute_id="dp_admin", evidence_due_by=due)
    run_fragments(at)
    assert toasts(at) == [
        f"Payment disputed on job #{small.job_id} ($100.00): it needs an answer by December 20"
    ]
