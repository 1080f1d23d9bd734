"""Single sign-on: an identity provider vouches for an e-mail; the role map decides access."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.db.models import Account
from core.db.session import session_scope
from core.identity.accounts import SignInRefused, create_account, sign_in_by_email
from core.identity.actor import Actor
from tests.support.factories import marketplace

ROLES = {
    "Alex@Marketplace.example": "admin",
    "fran@marketplace.example": "finance",
    "maria@plumbing.example": "provider:1",
    "typo@marketplace.example": "superuser",
    "lost@marketplace.example": "provider:abc",
}


def test_listed_addresses_get_their_role_and_an_account_without_a_password(
    ctx: AppContext,
) -> None:
    with session_scope(ctx.sessions) as session:
        marketplace(session)  # provider #1 exists
        admin = sign_in_by_email(session, email="alex@marketplace.example", role_map=ROLES)
        finance = sign_in_by_email(session, email="FRAN@marketplace.example", role_map=ROLES)
        provider = sign_in_by_email(session, email="maria@plumbing.example", role_map=ROLES)
        assert admin.actor.role == "admin"
        assert finance.actor.role == "finance"
        assert provider.actor == Actor("provider", 1)
        account = session.query(Account).filter_by(username="maria@plumbing.example").one()
        assert account.password_hash is None  # cannot sign in with a password
        again = sign_in_by_email(session, email="maria@plumbing.example", role_map=ROLES)
        assert again.account_id == provider.account_id


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("stranger@example.com", "has no access"),
        ("typo@marketplace.example", "is not valid"),
        ("lost@marketplace.example", "is not valid"),
    ],
)
def test_unlisted_or_misconfigured_addresses_are_refused_and_get_no_account(
    ctx: AppContext, email: str, message: str
) -> None:
    with session_scope(ctx.sessions) as session:
        marketplace(session)
        with pytest.raises(SignInRefused, match=message):
            sign_in_by_email(session, email=email, role_map=ROLES)
        assert session.query(Account).count() == 0


def test_an_existing_account_with_another_role_is_not_taken_over(ctx: AppContext) -> None:
    with session_scope(ctx.sessions) as session:
        marketplace(session)
        create_account(
            session,
            username="maria@plumbing.example",
            display_name="Maria",
            role="finance",
            password="a-long-password",
        )
        with pytest.raises(SignInRefused, match="another role"):
            sign_in_by_email(session, email="maria@plumbing.example", role_map=ROLES)
