"""The live feed of money moving back (core.reporting.live_feed): a provider hears of each
refund and dispute step on their own jobs, with its amount, and no one else's; admins hear
of a dispute opened, which needs an answer, with when it is due; finance hears of neither."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.context import AppContext
from core.db.models import ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import live_feed
from tests.support.factories import Market, job_for
from tests.support.money_back_told import dispute_told, mark_paid, refund_told


def another_provider(ctx: AppContext, market: Market) -> Market:
    with session_scope(ctx.sessions) as session:
        provider = ServiceProvider(name="Other Plumbing", email="other@example.com")
        session.add(provider)
        session.flush()
        return Market(market.customer_id, provider.id, market.service_id)


def feed(ctx: AppContext, actor: Actor) -> live_feed.Feed:
    with session_scope(ctx.readers) as session:
        return live_feed.recent(session, actor=actor, since=utcnow() - timedelta(minutes=2))


def test_a_refund_is_news_for_its_provider_only(ctx: AppContext, market: Market) -> None:
    other = another_provider(ctx, market)
    mine, theirs = job_for(ctx, market, 20000), job_for(ctx, other, 20000)
    mark_paid(ctx, mine, 20000)
    mark_paid(ctx, theirs, 20000)

    refund_told(ctx, mine, 5000, refund_id="re_feed_1")
    refund_told(ctx, mine, 3000, refund_id="re_feed_2")

    told = feed(ctx, Actor("provider", market.provider_id))
    news = [(i.kind, i.job_id, i.amount) for i in told.items if i.kind != "paid"]
    assert news == [("refund", mine, 5000), ("refund", mine, 3000)]
    assert len({i.key for i in told.items}) == len(told.items)
    assert told.unread == 2  # the refund notifications, unread
    assert feed(ctx, Actor("provider", other.provider_id)).items == []
    # Refunds need no one's action: admins and finance are not interrupted by them.
    assert feed(ctx, Actor("admin", 1)).items == []
    assert feed(ctx, Actor("finance", 1)).items == []


def test_a_dispute_is_news_for_its_provider_and_for_admins(ctx: AppContext, market: Market) -> None:
    other = another_provider(ctx, market)
    job_id = job_for(ctx, market, 9000)
    mark_paid(ctx, job_id, 9000)
    due = datetime(2026, 12, 20, 23, 59, tzinfo=UTC)

    dispute_told(ctx, job_id, 9000, dispute_id="dp_feed", evidence_due_by=due)
    dispute_told(ctx, job_id, 9000, dispute_id="dp_feed", status="lost")

    provider = feed(ctx, Actor("provider", market.provider_id)).items
    assert [(i.kind, i.job_id, i.amount) for i in provider] == [
        ("dispute_opened", job_id, 9000),
        ("dispute_lost", job_id, 9000),
    ]
    assert feed(ctx, Actor("provider", other.provider_id)).items == []
    (admin,) = feed(ctx, Actor("admin", 1)).items
    assert (admin.kind, admin.job_id, admin.amount, admin.due) == (
        "dispute_needs_response",
        job_id,
        9000,
        due.date(),
    )
    assert feed(ctx, Actor("finance", 1)).items == []
