"""The overview and webhook activity count the e-mail that needs a person: failed, and
waiting because e-mail is not configured; only for those who may act on the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from core.billing import webhook_activity
from core.billing.webhook_activity import EmailTrouble
from core.context import AppContext
from core.db.models import EmailMessage
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import overview

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ADMIN = Actor("admin", 1)
FINANCE = Actor("finance", 2)


def outbox(ctx: AppContext, *statuses: str) -> None:
    with session_scope(ctx.sessions) as session:
        session.add_all(
            EmailMessage(
                message_key=f"m{n}", kind="payment_confirmed", to_address="a@example.com", status=s
            )
            for n, s in enumerate(statuses)
        )


def test_both_pages_count_failed_and_unconfigured_messages(ctx: AppContext) -> None:
    outbox(ctx, "failed", "failed", "not_configured", "sent", "queued", "sending")
    with session_scope(ctx.readers) as session:
        figures = overview.marketplace(session, actor=ADMIN, now=NOW)
        activity = webhook_activity.activity(session, actor=ADMIN, now=NOW)
    assert figures.emails == activity.emails == EmailTrouble(failed=2, not_configured=1)


def test_nothing_stuck_counts_zero(ctx: AppContext) -> None:
    outbox(ctx, "sent", "queued")
    with session_scope(ctx.readers) as session:
        figures = overview.marketplace(session, actor=ADMIN, now=NOW)
    assert figures.emails == EmailTrouble(failed=0, not_configured=0)


def test_finance_gets_no_email_figures(ctx: AppContext) -> None:
    outbox(ctx, "failed")
    with session_scope(ctx.readers) as session:
        assert overview.marketplace(session, actor=FINANCE, now=NOW).emails is None
