"""Replay Stripe's events after downtime: fetch them from `GET /v1/events` and pass the
unseen ones through the webhook handlers, which apply each event id at most once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from core.billing.stripe_objects import event_from_payload
from core.billing.webhooks import process_event, subscribed_event_types
from core.context import AppContext
from core.db.models import StripeEvent, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.permissions import require

# Events can reach Stripe's list a little out of order; start a bit before the newest seen.
SAFETY_MARGIN = timedelta(minutes=10)
# With nothing handled yet, look back as far as Stripe retries a webhook.
DEFAULT_LOOKBACK = timedelta(days=3)


@dataclass(frozen=True)
class ReplayResult:
    since: datetime
    events: int
    outcomes: dict[str, int]


def replay_cursor(ctx: AppContext, now: datetime | None = None) -> datetime:
    """The newest event already handled, minus the safety margin."""
    with session_scope(ctx.sessions) as session:
        newest = session.scalar(
            select(func.max(StripeEvent.created)).where(StripeEvent.handled_at.is_not(None))
        )
    return (newest - SAFETY_MARGIN) if newest else (now or utcnow()) - DEFAULT_LOOKBACK


def replay_events(ctx: AppContext, *, actor: Actor, since: datetime | None = None) -> ReplayResult:
    require(actor, "events.replay")
    start = since or replay_cursor(ctx)
    events = ctx.gateway.events_since(start, subscribed_event_types())
    outcomes: Counter[str] = Counter()
    for event in events:
        outcomes[process_event(ctx.sessions, event, currency=ctx.settings.currency).outcome] += 1
    return ReplayResult(start, len(events), dict(outcomes))


def replay_stored(ctx: AppContext, *, actor: Actor) -> ReplayResult:
    """Handle again, from the payloads on our own rows, every event that is not handled
    yet (a database failure, a bug since fixed): no call to Stripe, no 30-day limit."""
    require(actor, "events.replay")
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(StripeEvent.created, StripeEvent.payload)
            .where(StripeEvent.handled_at.is_(None), StripeEvent.payload.is_not(None))
            .order_by(StripeEvent.created, StripeEvent.id)
        ).all()
    outcomes: Counter[str] = Counter()
    for _, payload in rows:
        event = event_from_payload(str(payload))
        outcomes[process_event(ctx.sessions, event, currency=ctx.settings.currency).outcome] += 1
    start = rows[0][0] if rows else utcnow()
    return ReplayResult(start, len(rows), dict(outcomes))
