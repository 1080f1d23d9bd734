"""Password hashing profiles: production-strength argon2 unless PASSWORD_HASH_PROFILE says
"fast", which the tests do; either profile verifies hashes made under the other."""

from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from core.config import PasswordHashProfile, Settings
from core.identity.accounts import hash_password, password_hasher

PASSWORD = "correct horse battery"


def test_the_default_profile_is_strong_at_argon2s_default_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PASSWORD_HASH_PROFILE", raising=False)
    assert Settings(_env_file=None).password_hash_profile == "strong"  # type: ignore[call-arg]

    strong, default = password_hasher("strong"), PasswordHasher()
    assert (strong.time_cost, strong.memory_cost, strong.parallelism) == (3, 65536, 4)
    assert (strong.time_cost, strong.memory_cost, strong.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
    assert (strong.hash_len, strong.salt_len) == (default.hash_len, default.salt_len)
    assert strong.hash(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_tests_hash_with_the_fast_profile() -> None:
    assert os.environ["PASSWORD_HASH_PROFILE"] == "fast"
    assert Settings(_env_file=None).password_hash_profile == "fast"  # type: ignore[call-arg]
    assert hash_password(PASSWORD).startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_an_unknown_profile_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "none")
    with pytest.raises(ValueError, match="password_hash_profile"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(("made", "checked"), [("strong", "fast"), ("fast", "strong")])
def test_a_hash_made_under_one_profile_verifies_under_the_other(
    made: PasswordHashProfile, checked: PasswordHashProfile
) -> None:
    stored = password_hasher(made).hash(PASSWORD)
    verifier = password_hasher(checked)
    assert verifier.verify(stored, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        verifier.verify(stored, PASSWORD + "!")
