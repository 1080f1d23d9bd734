"""Dashboard sessions: a one-time ticket traded for a signed cookie naming a session record,
refused once it expires, is signed out, or outlives its account's role, provider binding
or enablement; every time on an injected clock."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from core.context import AppContext
from core.db.models import (
    Account,
    AuditLog,
    DashboardSession,
    DashboardSignInTicket,
    ServiceProvider,
)
from core.db.session import session_scope
from core.identity.accounts import SignedIn, authenticate, create_account
from core.identity.dashboard_sessions import (
    SESSION_LIFETIME,
    TICKET_LIFETIME,
    SessionRefused,
    end_session,
    issue_ticket,
    signed_in_as_issued,
    signed_in_by_cookie,
    start_session,
)
from tests.support.factories import marketplace

PASSWORD = "a-long-password"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def admin_and_provider(ctx: AppContext) -> tuple[SignedIn, SignedIn]:
    with session_scope(ctx.sessions) as session:
        _, provider, _ = marketplace(session)
        create_account(
            session,
            username="alex@example.com",
            display_name="Alex",
            role="admin",
            password=PASSWORD,
        )
        create_account(
            session,
            username=provider.email,
            display_name=provider.name,
            role="provider",
            password=PASSWORD,
            provider_id=provider.id,
        )
        admin = authenticate(session, username="alex@example.com", password=PASSWORD, now=T0)
        owner = authenticate(session, username=provider.email, password=PASSWORD, now=T0)
    return admin, owner


def new_cookie(ctx: AppContext, user: SignedIn, *, now: datetime = T0) -> str:
    with session_scope(ctx.sessions) as session:
        ticket = issue_ticket(session, user, now=now)
    with session_scope(ctx.sessions) as session:
        return start_session(session, ctx.settings, ticket, now=now).cookie


def who(ctx: AppContext, cookie: str, *, now: datetime = T0) -> SignedIn | None:
    return signed_in_by_cookie(ctx.readers, ctx.sessions, ctx.settings, cookie, now=now)


def test_a_traded_ticket_gives_a_cookie_that_signs_in_until_it_expires(ctx: AppContext) -> None:
    admin, owner = admin_and_provider(ctx)
    cookie = new_cookie(ctx, owner)

    assert who(ctx, cookie) == owner
    assert who(ctx, cookie, now=T0 + SESSION_LIFETIME - timedelta(seconds=1)) == owner
    assert who(ctx, cookie, now=T0 + SESSION_LIFETIME) is None
    with session_scope(ctx.sessions) as session:
        record = session.scalars(select(DashboardSession)).one()
        assert (record.account_id, record.role) == (owner.account_id, "provider")
        assert record.provider_id == owner.actor.id
        assert record.expires_at == T0 + SESSION_LIFETIME
        # Only the token's digest is stored, never the token or the cookie.
        token = cookie.rsplit(".", 1)[0]
        assert record.id == hashlib.sha256(token.encode()).hexdigest()
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "dashboard.sign_in")
        ).one()
        assert entry.actor == owner.actor.label


def test_a_cookie_that_was_altered_or_signed_with_another_secret_is_refused(
    ctx: AppContext,
) -> None:
    _, owner = admin_and_provider(ctx)
    cookie = new_cookie(ctx, owner)
    token, signature = cookie.rsplit(".", 1)
    other_secret = ctx.settings.model_copy(
        update={"app_secret_key": SecretStr("another-secret-of-at-least-32-chars")}
    )

    for forged in (f"{token}x.{signature}", f"{token}.{signature[:-2]}", token, "", "...."):
        assert who(ctx, forged) is None, forged
    assert signed_in_by_cookie(ctx.readers, ctx.sessions, other_secret, cookie, now=T0) is None
    assert who(ctx, cookie) == owner


def test_a_ticket_is_good_once_and_for_a_minute(ctx: AppContext) -> None:
    admin, _ = admin_and_provider(ctx)
    with session_scope(ctx.sessions) as session:
        once = issue_ticket(session, admin, now=T0)
        late = issue_ticket(session, admin, now=T0)
    with session_scope(ctx.sessions) as session:
        start_session(session, ctx.settings, once, now=T0 + timedelta(seconds=5))
    with pytest.raises(SessionRefused, match="used already or has expired"):
        with session_scope(ctx.sessions) as session:
            start_session(session, ctx.settings, once, now=T0 + timedelta(seconds=6))
    with pytest.raises(SessionRefused, match="used already or has expired"):
        with session_scope(ctx.sessions) as session:
            start_session(session, ctx.settings, late, now=T0 + TICKET_LIFETIME)
    with pytest.raises(SessionRefused):
        with session_scope(ctx.sessions) as session:
            start_session(session, ctx.settings, "a-ticket-nobody-issued", now=T0)
    with session_scope(ctx.sessions) as session:
        assert len(session.scalars(select(DashboardSession)).all()) == 1
        # Tickets are stored as digests too.
        stored = set(session.scalars(select(DashboardSignInTicket.id)))
        assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (once, late)}


def test_signing_out_revokes_the_session_for_good(ctx: AppContext) -> None:
    _, owner = admin_and_provider(ctx)
    cookie = new_cookie(ctx, owner)
    other = new_cookie(ctx, owner)  # another browser of the same person

    with session_scope(ctx.sessions) as session:
        assert end_session(session, ctx.settings, cookie, now=T0 + timedelta(minutes=5))
    with session_scope(ctx.sessions) as session:
        assert not end_session(session, ctx.settings, cookie, now=T0 + timedelta(minutes=6))
        assert not end_session(session, ctx.settings, "not-a-cookie", now=T0)

    assert who(ctx, cookie, now=T0 + timedelta(minutes=5)) is None
    assert who(ctx, other, now=T0 + timedelta(minutes=5)) == owner
    with session_scope(ctx.sessions) as session:
        revoked = session.scalars(
            select(DashboardSession).where(DashboardSession.revoked_at.is_not(None))
        ).one()
        assert revoked.revoked_at == T0 + timedelta(minutes=5)
        assert revoked.revoked_because == "signed_out"
        entries = session.scalars(
            select(AuditLog).where(AuditLog.action == "dashboard.sign_out")
        ).all()
        assert [entry.actor for entry in entries] == [owner.actor.label]


def test_a_role_change_revokes_the_session_and_restoring_the_role_does_not_revive_it(
    ctx: AppContext,
) -> None:
    admin, _ = admin_and_provider(ctx)
    cookie = new_cookie(ctx, admin)

    def set_role(role: str) -> None:
        with session_scope(ctx.sessions) as session:
            session.execute(update(Account).where(Account.id == admin.account_id).values(role=role))

    set_role("finance")
    assert who(ctx, cookie, now=T0 + timedelta(minutes=1)) is None
    set_role("admin")
    assert who(ctx, cookie, now=T0 + timedelta(minutes=2)) is None
    with session_scope(ctx.sessions) as session:
        record = session.scalars(select(DashboardSession)).one()
        assert record.revoked_because == "role_changed"
        assert record.revoked_at == T0 + timedelta(minutes=1)
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "dashboard.session_revoked")
        ).one()
        assert (entry.actor, entry.reason) == ("system", "role changed")
    # A new sign-in as the restored role works.
    assert who(ctx, new_cookie(ctx, admin)) == admin


def test_a_new_provider_binding_revokes_the_session(ctx: AppContext) -> None:
    _, owner = admin_and_provider(ctx)
    cookie = new_cookie(ctx, owner)
    with session_scope(ctx.sessions) as session:
        other = ServiceProvider(name="Other Firm", email="other@firm.example")
        session.add(other)
        session.flush()
        session.execute(
            update(Account).where(Account.id == owner.account_id).values(provider_id=other.id)
        )
    assert who(ctx, cookie) is None


def test_a_disabled_account_gets_no_ticket_and_its_sessions_are_refused(ctx: AppContext) -> None:
    admin, owner = admin_and_provider(ctx)
    cookie = new_cookie(ctx, owner)
    with session_scope(ctx.sessions) as session:
        pending = issue_ticket(session, owner, now=T0)
    with session_scope(ctx.sessions) as session:
        session.execute(
            update(Account).where(Account.id == owner.account_id).values(disabled_at=T0)
        )

    assert who(ctx, cookie) is None
    with pytest.raises(SessionRefused, match="disabled"):
        with session_scope(ctx.sessions) as session:
            issue_ticket(session, owner, now=T0)
    with pytest.raises(SessionRefused, match="cannot sign in any more"):
        with session_scope(ctx.sessions) as session:
            start_session(session, ctx.settings, pending, now=T0)
    with session_scope(ctx.readers) as session:
        assert signed_in_as_issued(session, owner.account_id, "provider", owner.actor.id) is None
        assert signed_in_as_issued(session, admin.account_id, "admin", None) == admin
        assert signed_in_as_issued(session, admin.account_id, "finance", None) is None
        record = session.scalars(select(DashboardSession)).one()
        assert record.revoked_because == "account_disabled"


def test_expired_tickets_are_swept_away_by_the_next_sign_in(ctx: AppContext) -> None:
    admin, owner = admin_and_provider(ctx)
    with session_scope(ctx.sessions) as session:
        old = issue_ticket(session, admin, now=T0)
        recent = issue_ticket(session, admin, now=T0 + timedelta(seconds=30))
    with session_scope(ctx.sessions) as session:
        newest = issue_ticket(session, owner, now=T0 + TICKET_LIFETIME)
    with session_scope(ctx.readers) as session:
        stored = set(session.scalars(select(DashboardSignInTicket.id)))
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (recent, newest)}
    assert hashlib.sha256(old.encode()).hexdigest() not in stored
