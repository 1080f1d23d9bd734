"""A job's reminder line for its drawer: the last reminder sent and the next due, and who
paused the customer's reminders and why, told only to those who may pause them."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from core.billing.reminders import pause_reminders, step_day
from core.context import AppContext
from core.db.models import ReminderSent, StripeInvoice
from core.db.session import session_scope
from core.errors import NotFound
from core.identity.accounts import actor_of, create_account
from core.identity.actor import Actor
from core.jobs.reminder_line import JobReminders, job_reminders
from tests.support.factories import Market, invoiced_job, job_for


def admin(ctx: AppContext) -> Actor:
    with session_scope(ctx.sessions) as session:
        account = create_account(
            session,
            username="alex@example.com",
            display_name="Alex Admin",
            role="admin",
            password="admin-test-pass",
        )
        return actor_of(account)


def line(ctx: AppContext, job_id: int, actor: Actor, now: datetime) -> JobReminders:
    with session_scope(ctx.readers) as session:
        return job_reminders(session, job_id=job_id, actor=actor, now=now)


def reminded_job(ctx: AppContext, market: Market) -> tuple[int, datetime]:
    """An open invoice whose step -3 reminder went out; returns the job and its due date."""
    job_id, invoice_id = invoiced_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        due = session.scalar(
            select(StripeInvoice.due_date).where(StripeInvoice.invoice_id == invoice_id)
        )
        assert due is not None
        sent = datetime.combine(step_day(due, -3), time(9), UTC)
        session.add(ReminderSent(invoice_id=invoice_id, step=-3, job_id=job_id, sent_at=sent))
    return job_id, due


def test_the_last_reminder_and_the_next(ctx: AppContext, market: Market) -> None:
    job_id, due = reminded_job(ctx, market)
    now = datetime.combine(step_day(due, -1), time(12), UTC)
    found = line(ctx, job_id, market.provider, now)
    last, upcoming = step_day(due, -3), step_day(due, 0)
    assert found.words == (
        f"Last reminder sent {last:%Y-%m-%d} (due in 3 days) · "
        f"next reminder due {upcoming:%Y-%m-%d} (due today)"
    )
    assert found.pause is None


def test_a_paused_customer_says_who_and_why_to_admins_only(ctx: AppContext, market: Market) -> None:
    job_id, due = reminded_job(ctx, market)
    alex = admin(ctx)
    pause_reminders(ctx, customer_id=market.customer_id, actor=alex, reason="Disputes the bill")
    now = datetime.combine(step_day(due, -1), time(12), UTC)
    for_admin = line(ctx, job_id, alex, now)
    assert for_admin.words.endswith("· reminders to this customer are paused")
    assert for_admin.pause is not None
    assert (for_admin.pause.by, for_admin.pause.reason) == ("Alex Admin", "Disputes the bill")
    for_provider = line(ctx, job_id, market.provider, now)
    assert for_provider.status.paused and for_provider.pause is None


def test_a_late_reminder_says_how_late_it_was_when_sent(ctx: AppContext, market: Market) -> None:
    """Step 3 sent six days after the due date (a run missed, a customer resumed) was sent
    as "6 days late"; the next, step 7 by now, goes today, at 8 days late."""
    job_id, due = reminded_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        invoice_id = session.scalar(
            select(StripeInvoice.invoice_id).where(StripeInvoice.job_id == job_id)
        )
        sent = datetime.combine(step_day(due, 6), time(9), UTC)
        session.add(ReminderSent(invoice_id=invoice_id, step=3, job_id=job_id, sent_at=sent))
    now = datetime.combine(step_day(due, 8), time(12), UTC)
    assert line(ctx, job_id, market.provider, now).words == (
        f"Last reminder sent {step_day(due, 6):%Y-%m-%d} (6 days late) · "
        f"next reminder due {step_day(due, 8):%Y-%m-%d} (8 days late)"
    )


def test_after_the_last_step_none_is_scheduled(ctx: AppContext, market: Market) -> None:
    job_id, due = reminded_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        invoice_id = session.scalar(
            select(StripeInvoice.invoice_id).where(StripeInvoice.job_id == job_id)
        )
        sent = datetime.combine(step_day(due, 14), time(9), UTC)
        session.add(ReminderSent(invoice_id=invoice_id, step=14, job_id=job_id, sent_at=sent))
    now = datetime.combine(step_day(due, 20), time(12), UTC)
    assert line(ctx, job_id, market.provider, now).words == (
        f"Last reminder sent {step_day(due, 14):%Y-%m-%d} (14 days late) · "
        "no further reminder is scheduled"
    )


def test_someone_elses_job_is_not_found(ctx: AppContext, market: Market) -> None:
    job_id = job_for(ctx, market)
    with pytest.raises(NotFound):
        line(ctx, job_id, Actor("provider", market.provider_id + 100), datetime.now(UTC))
