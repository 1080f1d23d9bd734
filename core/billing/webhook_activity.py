"""What the webhook intake has been doing, and the e-mail that did not go out: for admins
watching the integration's health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import StripeEvent, utcnow
from core.identity.actor import Actor
from core.identity.permissions import allowed, require
from core.notify.outbox import count_by_status

# Outcomes that need a person: the event was not applied as it came.
PROBLEM_OUTCOMES = (
    "failed",
    "error",
    "rejected",
    "orphan",
    "amount_mismatch",
    "job_cancelled",
    "malformed",
)


@dataclass(frozen=True)
class EmailTrouble:
    """Messages that need a person: given up on, or waiting because SMTP_URL is not set."""

    failed: int
    not_configured: int


@dataclass(frozen=True)
class ActivitySummary:
    last_received_at: datetime | None
    seconds_since_last: int | None
    by_type_and_outcome: list[tuple[str, str, int]]  # last 24 hours
    problems: list[StripeEvent]
    emails: EmailTrouble | None = None  # None for roles that may not manage the outbox


def email_trouble(session: Session, *, actor: Actor) -> EmailTrouble | None:
    """The outbox's counts of the messages that need a person, for whoever may act on
    them (the Outbox page, core.notify.outbox_admin)."""
    if not allowed(actor, "outbox.manage"):
        return None
    counts = count_by_status(session, ("failed", "not_configured"))
    return EmailTrouble(failed=counts["failed"], not_configured=counts["not_configured"])


def activity(
    session: Session, *, actor: Actor, now: datetime | None = None, problem_limit: int = 100
) -> ActivitySummary:
    require(actor, "webhooks.read")
    now = now or utcnow()
    last = session.scalar(select(func.max(StripeEvent.received_at)))
    since = now - timedelta(hours=24)
    counts = session.execute(
        select(StripeEvent.type, func.coalesce(StripeEvent.outcome, "pending"), func.count())
        .where(StripeEvent.received_at >= since)
        .group_by(StripeEvent.type, StripeEvent.outcome)
        .order_by(StripeEvent.type, StripeEvent.outcome)
    )
    problems = session.scalars(
        select(StripeEvent)
        .where(StripeEvent.outcome.in_(PROBLEM_OUTCOMES))
        .order_by(StripeEvent.received_at.desc())
        .limit(problem_limit)
    )
    return ActivitySummary(
        last_received_at=last,
        seconds_since_last=int((now - last).total_seconds()) if last else None,
        by_type_and_outcome=[(t, o, int(c)) for t, o, c in counts],
        problems=list(problems),
        emails=email_trouble(session, actor=actor),
    )
