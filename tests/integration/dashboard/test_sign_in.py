"""Signing in and out of the dashboard: the pages each role gets, refused sign-ins, the
wait after repeated failures, and sessions that were tampered with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import Account, LoginFailure, Notification, utcnow
from core.db.session import session_scope
from core.identity import accounts
from core.identity.accounts import WRONG_CREDENTIALS, SignInRefused, authenticate
from core.identity.dashboard_sessions import DISABLED, start_session
from core.notify.notifications import notify
from dashboard.components.runtime import settings as dashboard_settings
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    DEV,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    MARIA,
    PROVIDER_PASSWORD,
    SIGN_IN_TITLE,
    Demo,
    captions,
    errors,
    jobs_table,
    nav_titles,
    new_app,
    open_page,
    session_signature,
    shown,
    sign_in,
    signed_in,
    titles,
)


@dataclass(frozen=True)
class Role:
    email: str
    password: str
    display_name: str
    pages: list[tuple[str, str]]  # (file, page title) in navigation order


ROLES = {
    "provider": Role(
        MARIA,
        PROVIDER_PASSWORD,
        "Rivera Plumbing & Heating",
        [
            ("provider_home.py", "Home"),
            ("my_jobs.py", "My jobs"),
            ("earnings.py", "Earnings"),
            ("notifications.py", "Notifications"),
        ],
    ),
    "admin": Role(
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "Alex Admin",
        [
            ("overview.py", "Overview"),
            ("all_jobs.py", "All jobs"),
            ("webhook_activity.py", "Webhook activity"),
            ("reconciliation.py", "Reconciliation"),
            ("reports.py", "Reports"),
            ("outbox.py", "Outbox"),
            ("email_preview.py", "E-mail previews"),
        ],
    ),
    "finance": Role(
        FINANCE_EMAIL,
        FINANCE_PASSWORD,
        "Fran Finance",
        [("overview.py", "Overview"), ("reports.py", "Reports")],
    ),
}


def unread_for_provider(ctx: AppContext, provider_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.recipient_kind == "provider",
                    Notification.recipient_id == provider_id,
                    Notification.read_at.is_(None),
                )
            )
            or 0
        )


def assert_signed_out(at: AppTest, *, forgotten: bool = True) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert titles(at) == [SIGN_IN_TITLE]
    assert nav_titles(at) == ["Sign in"]
    if forgotten:  # a signed value that does not verify is dropped from the session
        assert "auth" not in at.session_state
    assert [t.key for t in at.text_input] == ["sign_in_email", "sign_in_password"]
    assert jobs_table(at) is None and not at.metric
    assert [b.key for b in at.button if b.key == "sign_out"] == []


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_gets_its_pages_and_signs_out(
    role: str, demo: Demo, dashboard: AppContext
) -> None:
    spec = ROLES[role]
    expected_nav = [title for _, title in spec.pages]
    if role == "provider":
        provider_id = demo.provider_id(MARIA)
        with session_scope(dashboard.sessions) as session:  # at least one unread
            notify(
                session,
                recipient_kind="provider",
                recipient_id=provider_id,
                kind="payment_received",
                title="Payment Received",
                body="Payment of $1.00 received for Job #1",
                job_id=None,
            )
        unread = unread_for_provider(dashboard, provider_id)
        assert unread >= 1
        expected_nav[-1] = f"Notifications ({unread})"

    at = new_app().run()
    assert_signed_out(at)

    at = sign_in(at, spec.email, spec.password)
    assert not at.exception, [e.value for e in at.exception]
    assert nav_titles(at) == expected_nav
    # The first page of the role opens by itself.
    assert titles(at) == [spec.pages[0][1]]
    assert f"Signed in as **{spec.display_name}** ({role})" in [
        shown(c.value) for c in at.sidebar.caption
    ]
    for page_file, title in spec.pages:
        open_page(at, page_file)
        assert titles(at) == [title], page_file
        assert not at.error, errors(at)

    at.button(key="sign_out").click().run()
    assert_signed_out(at)


def test_wrong_password_and_unknown_user_get_the_same_answer(demo: Demo) -> None:
    wrong = sign_in(new_app(), MARIA, "not-the-password")
    unknown = sign_in(new_app(), "nobody@nowhere.example", "not-the-password")
    for at in (wrong, unknown):
        assert not at.exception
        assert errors(at) == [WRONG_CREDENTIALS]
        assert titles(at) == [SIGN_IN_TITLE]
        assert nav_titles(at) == ["Sign in"]
        assert "auth" not in at.session_state
    # Nothing else on the page tells the two apart either.
    assert captions(wrong) == captions(unknown)
    assert [type(e).__name__ for e in wrong.main] == [type(e).__name__ for e in unknown.main]


@pytest.mark.parametrize("email", [MARIA, "nobody@nowhere.example"], ids=["known", "unknown"])
def test_three_failures_make_the_next_try_wait(
    email: str, demo: Demo, dashboard: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = new_app().run()
    for _ in range(3):
        sign_in(at, email, "not-the-password")
        assert errors(at) == [WRONG_CREDENTIALS]
    # Within the wait, even the right password (or any password) is refused, and the
    # refusal does not say whether the account exists.
    sign_in(at, email, PROVIDER_PASSWORD)
    assert not at.exception
    assert len(errors(at)) == 1 and errors(at)[0].startswith("Too many failed sign-ins")
    assert titles(at) == [SIGN_IN_TITLE] and "auth" not in at.session_state

    with session_scope(dashboard.sessions) as session:
        failure = session.get(LoginFailure, email)
        assert failure is not None and failure.failures == 3
        last = failure.last_failure_at
    # The wait after three failures is two seconds from the last one.
    session = dashboard.sessions()
    try:
        with pytest.raises(SignInRefused, match="Try again in 1 second"):
            authenticate(
                session,
                username=email,
                password=PROVIDER_PASSWORD,
                now=last + timedelta(seconds=1),
            )
        if email == MARIA:
            user = authenticate(
                session, username=email, password=PROVIDER_PASSWORD, now=last + timedelta(seconds=2)
            )
            assert user.username == MARIA
        else:
            with pytest.raises(SignInRefused, match=WRONG_CREDENTIALS):
                authenticate(
                    session,
                    username=email,
                    password=PROVIDER_PASSWORD,
                    now=last + timedelta(seconds=2),
                )
    finally:
        session.rollback()
        session.close()

    # Once the wait has passed on the clock sign-in reads, the dashboard lets the right
    # password in.
    if email == MARIA:
        monkeypatch.setattr(accounts, "utcnow", lambda: last + timedelta(seconds=2))
        sign_in(at, email, PROVIDER_PASSWORD)
        assert not at.exception and not at.error, errors(at)
        assert titles(at) == ["Home"]
        with session_scope(dashboard.sessions) as check:
            assert check.get(LoginFailure, email) is None


def test_tampered_session_is_signed_out(demo: Demo) -> None:
    at = signed_in(MARIA, PROVIDER_PASSWORD)
    genuine = dict(at.session_state["auth"])
    maria_account = demo.account_ids[MARIA]
    maria_provider = demo.provider_id(MARIA)
    admin_account = demo.account_ids[ADMIN_EMAIL]
    assert genuine == {
        "account_id": maria_account,
        "role": "provider",
        "provider_id": maria_provider,
        "signature": session_signature(maria_account, "provider", maria_provider),
    }
    admin = {"account_id": admin_account, "role": "admin", "provider_id": None}

    forgeries = [
        # another account with the old signature
        {**admin, "signature": genuine["signature"]},
        # another provider's binding with the old signature
        {**genuine, "provider_id": demo.provider_id(DEV)},
        # no signature at all
        admin,
        # signed with the development secret instead of the configured one
        {
            **admin,
            "signature": session_signature(
                admin_account, "admin", None, "dev-only-secret-change-me-in-production-please"
            ),
        },
        # the account id as text
        {**genuine, "account_id": str(maria_account)},
        # not even a dict
        f"account:{admin_account}",
    ]
    for forged in forgeries:
        at.session_state["auth"] = forged
        at.run()
        assert_signed_out(at, forgotten=isinstance(forged, dict))

    # The genuine value still works, so the refusals above are about the tampering.
    at.session_state["auth"] = genuine
    at.run()
    assert not at.exception
    assert titles(at) == ["Home"]
    assert nav_titles(at)[:3] == ["Home", "My jobs", "Earnings"]


def browser_sent_to(at: AppTest) -> str:
    """The address the page's script sends the browser to (the one html element with one)."""
    found = [
        re.search(r"(?:replace\(|form\.action = )\"([^\"]*)\"", str(element.proto.body))
        for element in at.get("html")
    ]
    targets = [match.group(1) for match in found if match is not None]
    assert len(targets) == 1, targets
    return targets[0]


def test_a_sign_in_sends_the_browser_to_trade_its_ticket_for_the_cookie_and_keep_the_link(
    demo: Demo, dashboard: AppContext
) -> None:
    at = new_app()
    at.query_params["job"] = "12"
    at.query_params["status"] = ["open", "paid"]
    at = sign_in(at.run(), ADMIN_EMAIL, ADMIN_PASSWORD)
    assert not at.exception and titles(at) == ["Overview"]

    target = urlsplit(browser_sent_to(at))
    assert target.path == "/session/start"
    query = parse_qs(target.query)
    assert query["next"] == ["/?job=12&status=open&status=paid"]
    # The ticket is real: traded once, it signs the admin in.
    with session_scope(dashboard.sessions) as session:
        started = start_session(session, dashboard_settings(), query["ticket"][0])
    assert started.user.account_id == demo.account_ids[ADMIN_EMAIL]
    # The redirect is sent once, not on every run.
    at.run()
    assert not [e for e in at.get("html") if "/session/" in str(e.proto.body)]


def test_signing_out_sends_the_browser_to_clear_the_cookie(demo: Demo) -> None:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    at.run()  # past the sign-in's redirect
    at.button(key="sign_out").click().run()
    assert_signed_out(at)
    assert browser_sent_to(at) == "/session/end"
    assert "form.method = 'post'" in str(at.get("html")[0].proto.body)


def test_a_disabled_account_cannot_sign_in(demo: Demo, dashboard: AppContext) -> None:
    with session_scope(dashboard.sessions) as session:
        session.execute(
            update(Account).where(Account.username == FINANCE_EMAIL).values(disabled_at=utcnow())
        )
    at = sign_in(new_app(), FINANCE_EMAIL, FINANCE_PASSWORD)
    assert not at.exception
    assert errors(at) == [DISABLED]
    assert_signed_out(at)


def test_a_role_change_signs_the_tab_out(demo: Demo, dashboard: AppContext) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    with session_scope(dashboard.sessions) as session:
        session.execute(
            update(Account).where(Account.username == FINANCE_EMAIL).values(role="admin")
        )
    at.run()
    assert_signed_out(at)
