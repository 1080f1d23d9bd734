"""API tokens on a given clock: valid from their issue time until (not at) their expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from pydantic import SecretStr

from core.config import Settings
from core.identity.actor import Actor
from core.identity.api_tokens import ALGORITHM, ISSUER, NotAuthenticated, issue_token, read_token

SECRET = "api-token-unit-tests-" + "k" * 40
ISSUED = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
EXPIRED = "The token has expired; ask for a new one."
NOT_VALID = "The token is not valid."


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, app_secret_key=SecretStr(SECRET))  # type: ignore[call-arg]


def signed(**claims: Any) -> str:
    base = {"iss": ISSUER, "role": "admin", "id": None, "iat": ISSUED, "exp": ISSUED}
    return jwt.encode({**base, **claims}, SECRET, algorithm=ALGORITHM)


def test_a_token_speaks_for_its_actor_until_its_expiry_and_not_at_it(settings: Settings) -> None:
    token = issue_token(settings, role="provider", subject_id=7, ttl=timedelta(hours=1), now=ISSUED)

    for moment in (ISSUED, ISSUED + timedelta(minutes=59, seconds=59)):
        assert read_token(settings, token, now=moment) == Actor("provider", 7)
    for moment in (ISSUED + timedelta(hours=1), ISSUED + timedelta(days=3)):
        with pytest.raises(NotAuthenticated, match=EXPIRED):
            read_token(settings, token, now=moment)


def test_a_token_read_before_it_was_issued_or_valid_is_refused(settings: Settings) -> None:
    later = ISSUED + timedelta(hours=1)
    token = issue_token(settings, role="admin", subject_id=None, now=ISSUED)
    with pytest.raises(NotAuthenticated, match=NOT_VALID):
        read_token(settings, token, now=ISSUED - timedelta(seconds=1))

    not_yet = signed(exp=later, nbf=ISSUED + timedelta(minutes=5))
    with pytest.raises(NotAuthenticated, match=NOT_VALID):
        read_token(settings, not_yet, now=ISSUED + timedelta(minutes=4))
    assert read_token(settings, not_yet, now=ISSUED + timedelta(minutes=5)) == Actor("admin")


@pytest.mark.parametrize(
    "claims",
    [{"exp": "tomorrow"}, {"iat": "today"}, {"exp": True}, {"nbf": [1]}, {"iat": None}],
    ids=["text exp", "text iat", "boolean exp", "list nbf", "no iat"],
)
def test_times_that_are_not_numbers_are_refused(settings: Settings, claims: Any) -> None:
    token = signed(**{"exp": ISSUED + timedelta(hours=1), **claims})
    with pytest.raises(NotAuthenticated, match=NOT_VALID):
        read_token(settings, token, now=ISSUED)
