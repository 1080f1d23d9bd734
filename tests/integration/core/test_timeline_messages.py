"""A job's timeline tells what became of each of its e-mails and reminders, in plain words
and in the timeline's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.audit import record
from core.context import AppContext
from core.db.models import EmailMessage, Job, Notification, StripeEvent
from core.db.session import session_scope
from core.identity.actor import SYSTEM, Actor
from core.jobs.timeline import TimelineEntry, job_timeline
from tests.support.factories import Market, job_for

T = datetime(2026, 3, 4, 12, 0, 5, tzinfo=UTC)
ADMIN = Actor("admin", None)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def timeline(ctx: AppContext, job_id: int, actor: Actor = ADMIN) -> list[TimelineEntry]:
    with session_scope(ctx.sessions) as session:
        return job_timeline(session, job_id=job_id, actor=actor)


def created_before(ctx: AppContext, market: Market) -> int:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.created_at = at(-3600)
    return job_id


def message(
    job_id: int, key: str, kind: str, status: str, created: datetime, **more: object
) -> EmailMessage:
    return EmailMessage(
        message_key=key,
        kind=kind,
        job_id=job_id,
        to_address="ann@example.com",
        status=status,
        created_at=created,
        next_attempt_at=created,
        **more,
    )


def test_each_email_says_where_it_stands(ctx: AppContext, market: Market) -> None:
    job_id = created_before(ctx, market)
    with session_scope(ctx.sessions) as session:
        session.add_all(
            [
                message(job_id, "a", "payment_confirmed", "sent", at(1), attempts=1, sent_at=at(9)),
                message(
                    job_id,
                    "b",
                    "payment_received",
                    "failed",
                    at(2),
                    attempts=3,
                    last_error="mailbox unavailable",
                ),
                message(job_id, "c", "payment_failed", "queued", at(3)),
                message(job_id, "d", "reminder", "not_configured", at(4)),
                message(
                    job_id,
                    "e",
                    "payment_failed",
                    "queued",
                    at(5),
                    attempts=2,
                    last_error="421 busy",
                ),
            ]
        )
    emails = [(e.what, e.detail) for e in timeline(ctx, job_id) if e.source == "email"]
    assert emails == [
        ("E-mail 'Payment confirmed' to ann@example.com", "sent"),
        (
            "E-mail 'Payment received' to ann@example.com",
            "failed after 3 attempts: mailbox unavailable",
        ),
        ("E-mail 'Payment failed' to ann@example.com", "queued"),
        ("E-mail 'Payment reminder' to ann@example.com", "not sent: e-mail is not configured"),
        (
            "E-mail 'Payment failed' to ann@example.com",
            "queued to try again after 2 attempts: 421 busy",
        ),
    ]


def test_an_email_follows_its_notification_and_precedes_what_came_after_in_its_second(
    ctx: AppContext, market: Market
) -> None:
    """The notification and its e-mail are written together (12:00:05.400); Stripe's event
    stamped 12:00:05 reached us later (12:00:05.700)."""
    job_id = created_before(ctx, market)
    with session_scope(ctx.sessions) as session:
        session.add(
            Notification(
                recipient_kind="customer",
                recipient_id=market.customer_id,
                kind="payment_failed",
                title="Payment failed",
                body="",
                job_id=job_id,
                created_at=at(0.4),
            )
        )
        # Written first, yet the same moment as the notification: the e-mail still follows.
        session.add(message(job_id, "m", "payment_failed", "sent", at(0.4), sent_at=at(3)))
        session.add(
            StripeEvent(
                event_id="evt_late",
                type="invoice.payment_failed",
                created=T,
                received_at=at(0.7),
                handled_at=at(0.7),
                job_id=job_id,
                object_id="in_x",
                outcome="customer_notified",
            )
        )
    assert [e.source for e in timeline(ctx, job_id)] == [
        "job",
        "notification",
        "email",
        "stripe",
    ]


def test_emails_queued_at_one_moment_keep_the_order_they_were_queued_in(
    ctx: AppContext, market: Market
) -> None:
    job_id = created_before(ctx, market)
    with session_scope(ctx.sessions) as session:
        session.add(message(job_id, "1", "payment_confirmed", "sent", at(1)))
        session.flush()
        session.add(message(job_id, "2", "payment_received", "sent", at(1)))
    whats = [e.what for e in timeline(ctx, job_id) if e.source == "email"]
    assert whats == [
        "E-mail 'Payment confirmed' to ann@example.com",
        "E-mail 'Payment received' to ann@example.com",
    ]


def test_a_reminder_says_how_late_it_was(ctx: AppContext, market: Market) -> None:
    job_id = created_before(ctx, market)
    with session_scope(ctx.sessions) as session:
        sent = record(
            session,
            actor=SYSTEM,
            action="reminder.sent",
            job_id=job_id,
            after={"invoice_id": "in_1", "reminder": "3 days late", "amount": 15000},
        )
        sent.created_at = at(10)
        failed = record(
            session,
            actor=SYSTEM,
            action="reminder.sent",
            job_id=job_id,
            result="failed",
            after={"invoice_id": "in_1", "reminder": "7 days late"},
            error="Stripe is unreachable",
        )
        failed.created_at = at(20)
    reminders = [(e.what, e.detail) for e in timeline(ctx, job_id) if e.source == "audit"]
    assert reminders == [
        ("Reminder sent", "3 days late"),
        ("Reminder sent — failed", "Stripe is unreachable · by the system"),
    ]


def test_a_provider_sees_the_emails_of_their_own_job(ctx: AppContext, market: Market) -> None:
    job_id = created_before(ctx, market)
    with session_scope(ctx.sessions) as session:
        session.add(message(job_id, "p", "payment_received", "sent", at(1)))
    entries = timeline(ctx, job_id, market.provider)
    assert [e.detail for e in entries if e.source == "email"] == ["sent"]
