"""The routes beside the dashboard that set and clear the session cookie: a ticket traded
once for an HttpOnly, SameSite=Lax cookie (Secure over https) and a redirect to a path of
this app only; signing out revokes the session and clears the cookie."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.context import AppContext
from core.db.models import DashboardSession
from core.db.session import session_scope
from core.identity.accounts import SignedIn, authenticate
from core.identity.dashboard_sessions import SESSION_LIFETIME, issue_ticket, signed_in_by_cookie
from dashboard.components.runtime import settings as dashboard_settings
from dashboard.components.session_cookie import COOKIE_NAME
from dashboard.session_routes import ROUTES
from tests.integration.dashboard.conftest import Small


@pytest.fixture
def client(dashboard: AppContext) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=ROUTES), follow_redirects=False) as test_client:
        yield test_client


def owner(ctx: AppContext, small: Small) -> SignedIn:
    with session_scope(ctx.sessions) as session:
        return authenticate(session, username=small.email, password=small.password)


def signs_in(ctx: AppContext, cookie: str) -> bool:
    """Whether the dashboard (its settings: its APP_SECRET_KEY) takes the cookie."""
    user = signed_in_by_cookie(ctx.readers, ctx.sessions, dashboard_settings(), cookie)
    return user is not None


def ticket_for(ctx: AppContext, user: SignedIn) -> str:
    with session_scope(ctx.sessions) as session:
        return issue_ticket(session, user)


def set_cookie(response: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])  # type: ignore[attr-defined]
    return jar


def test_a_ticket_is_traded_once_for_the_cookie_and_a_redirect_to_the_link(
    dashboard: AppContext, small: Small, client: TestClient
) -> None:
    user = owner(dashboard, small)
    ticket = ticket_for(dashboard, user)

    answer = client.get("/session/start", params={"ticket": ticket, "next": "/my_jobs?job=7"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/my_jobs?job=7"
    assert answer.headers["cache-control"] == "no-store"
    morsel = set_cookie(answer)[COOKIE_NAME]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(int(SESSION_LIFETIME.total_seconds()))
    assert not morsel["secure"]  # plain http here
    cookie = morsel.value
    assert signs_in(dashboard, cookie)

    again = client.get("/session/start", params={"ticket": ticket, "next": "/my_jobs"})
    assert again.status_code == 400
    assert "used already or has expired" in again.text
    assert "set-cookie" not in again.headers


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil"]
)
def test_the_redirect_never_leaves_the_app(
    dashboard: AppContext, small: Small, client: TestClient, target: str
) -> None:
    ticket = ticket_for(dashboard, owner(dashboard, small))
    answer = client.get("/session/start", params={"ticket": ticket, "next": target})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_a_missing_or_unknown_ticket_sets_nothing(
    dashboard: AppContext, client: TestClient
) -> None:
    for params in ({}, {"ticket": "made-up"}, {"ticket": "made-up", "next": "/<b>x</b>"}):
        answer = client.get("/session/start", params=params)
        assert answer.status_code == 400
        assert "set-cookie" not in answer.headers
        assert "<b>" not in answer.text  # the link back is escaped text
    with session_scope(dashboard.readers) as session:
        assert session.scalars(select(DashboardSession)).all() == []


def test_the_cookie_is_secure_over_https(dashboard: AppContext, small: Small) -> None:
    ticket = ticket_for(dashboard, owner(dashboard, small))
    with TestClient(
        Starlette(routes=ROUTES), base_url="https://dashboard.example", follow_redirects=False
    ) as secure_client:
        answer = secure_client.get("/session/start", params={"ticket": ticket})
    assert set_cookie(answer)[COOKIE_NAME]["secure"] is True


def test_signing_out_revokes_the_session_and_clears_the_cookie(
    dashboard: AppContext, small: Small, client: TestClient
) -> None:
    started = client.get(
        "/session/start", params={"ticket": ticket_for(dashboard, owner(dashboard, small))}
    )
    cookie = set_cookie(started)[COOKIE_NAME].value

    assert signs_in(dashboard, cookie)
    assert client.get("/session/end").status_code == 405  # a link elsewhere cannot sign out
    ended = client.post("/session/end", cookies={COOKIE_NAME: cookie})
    assert ended.status_code == 303 and ended.headers["location"] == "/"
    cleared = set_cookie(ended)[COOKIE_NAME]
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert not signs_in(dashboard, cookie)
    with session_scope(dashboard.readers) as session:
        record = session.scalars(select(DashboardSession)).one()
        assert record.revoked_because == "signed_out"
    # Without a cookie it still clears, and answers the same.
    assert client.post("/session/end").status_code == 303
