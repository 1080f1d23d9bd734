"""Dashboard accounts: argon2-hashed passwords, roles, and throttled sign-in.

A wrong password and an unknown account get the same answer, in about the same time, and
repeated failures for a username (known or not) make it wait longer before the next try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.config import PasswordHashProfile, get_settings
from core.db.models import ACCOUNT_ROLES, Account, LoginFailure, ServiceProvider, utcnow
from core.db.session import insert_ignoring_conflict, session_scope
from core.errors import AppError, InvalidInput
from core.identity.actor import Actor

MIN_PASSWORD_LENGTH = 10
FREE_ATTEMPTS = 3  # failures allowed before waiting kicks in
MAX_WAIT = timedelta(minutes=15)
WRONG_CREDENTIALS = "Wrong e-mail or password."

HASH_PROFILES: dict[PasswordHashProfile, Parameters] = {
    # argon2-cffi's default (RFC 9106's second choice): 3 passes over 64 MiB, 4 lanes.
    "strong": RFC_9106_LOW_MEMORY,
    # One pass over 8 KiB: for tests only (PASSWORD_HASH_PROFILE=fast).
    "fast": replace(RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=8, parallelism=1),
}


class SignInRefused(AppError):
    status_code = 401
    code = "sign_in_refused"


@dataclass(frozen=True)
class SignedIn:
    account_id: int
    username: str
    display_name: str
    actor: Actor


def _normalize(username: str) -> str:
    return username.strip().lower()


@cache
def _hasher_for(profile: PasswordHashProfile) -> PasswordHasher:
    return PasswordHasher.from_parameters(HASH_PROFILES[profile])


def password_hasher(profile: PasswordHashProfile | None = None) -> PasswordHasher:
    """The hasher for new hashes: `profile`'s, or PASSWORD_HASH_PROFILE's (default strong).

    Any of them verifies a hash made under any profile: the hash carries its parameters.
    """
    return _hasher_for(profile or get_settings().password_hash_profile)


@cache
def _dummy_hash(profile: PasswordHashProfile) -> str:
    """Verified against when the account does not exist, so both paths cost the same."""
    return _hasher_for(profile).hash("not the password of anyone")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return password_hasher().hash(password)


def create_account(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str | None,
    provider_id: int | None = None,
    password_hash: str | None = None,
) -> Account:
    """A new account; with neither a password nor a hash only single sign-on opens it.

    `password_hash` (from `hash_password`, with `password=None`) lets accounts that share a
    password share one hash too, as the demo seed's providers do.
    """
    if password is not None and password_hash is not None:
        raise ValueError("give the password or its hash, not both")
    if role not in ACCOUNT_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ACCOUNT_ROLES)}")
    if (role == "provider") != (provider_id is not None):
        raise InvalidInput("a provider account is bound to exactly one service provider")
    if provider_id is not None and session.get(ServiceProvider, provider_id) is None:
        raise InvalidInput(f"No provider #{provider_id}")
    name = _normalize(username)
    if "@" not in name:
        raise InvalidInput("the username is an e-mail address")
    if session.scalar(select(Account.id).where(Account.username == name)) is not None:
        raise InvalidInput(f"an account for {name} already exists")
    account = Account(
        username=name,
        display_name=display_name,
        role=role,
        provider_id=provider_id,
        password_hash=hash_password(password) if password is not None else password_hash,
    )
    session.add(account)
    session.flush()
    return account


def actor_of(account: Account) -> Actor:
    if account.role == "provider":
        return Actor("provider", account.provider_id)
    return Actor("admin" if account.role == "admin" else "finance", account.id)


def _signed_in(account: Account) -> SignedIn:
    return SignedIn(account.id, account.username, account.display_name, actor_of(account))


def signed_in_account(session: Session, account_id: int) -> SignedIn | None:
    """Who `account_id` is now (role and provider as stored); None once it is gone."""
    account = session.get(Account, account_id)
    return _signed_in(account) if account is not None else None


def wait_before_next_try(failures: int) -> timedelta:
    """Nothing for the first few failures, then 2, 4, 8 ... seconds, up to 15 minutes."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - FREE_ATTEMPTS + 1)), MAX_WAIT)


def authenticate(
    session: Session, *, username: str, password: str, now: datetime | None = None
) -> SignedIn:
    """Check a password; raises SignInRefused with one message for every kind of failure."""
    now = now or utcnow()
    name = _normalize(username)
    failure = session.get(LoginFailure, name)
    if failure is not None:
        ready_at = failure.last_failure_at + wait_before_next_try(failure.failures)
        if now < ready_at:
            seconds = math.ceil((ready_at - now).total_seconds())
            raise SignInRefused(
                f"Too many failed sign-ins. Try again in {seconds} second"
                f"{'s' if seconds != 1 else ''}."
            )
    account = session.scalar(select(Account).where(Account.username == name))
    stored = account.password_hash if account is not None else None
    profile = get_settings().password_hash_profile
    try:
        password_hasher(profile).verify(stored or _dummy_hash(profile), password)
        matched = stored is not None
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched or account is None:
        _count_failure(session, name, now)
        raise SignInRefused(WRONG_CREDENTIALS)
    session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    account.last_login_at = now
    return _signed_in(account)


def _count_failure(session: Session, name: str, now: datetime) -> None:
    if not insert_ignoring_conflict(
        session, LoginFailure, {"username": name, "failures": 1, "last_failure_at": now}
    ):
        session.execute(
            update(LoginFailure)
            .where(LoginFailure.username == name)
            .values(failures=LoginFailure.failures + 1, last_failure_at=now)
        )


def sign_in_by_email(session: Session, *, email: str, role_map: dict[str, str]) -> SignedIn:
    """Single sign-on: an identity provider vouched for `email`; the role map decides.

    `role_map` maps e-mail addresses to "admin", "finance" or "provider:<id>"; an address
    it does not list, or one with an existing account of another role, is refused.
    """
    name = _normalize(email)
    entry = {key.strip().lower(): value for key, value in role_map.items()}.get(name)
    if entry is None:
        raise SignInRefused(f"{name} has no access to this dashboard. Ask an admin.")
    role, _, provider = entry.partition(":")
    provider_id = int(provider) if role == "provider" and provider.isdigit() else None
    if role not in ACCOUNT_ROLES or (role == "provider" and provider_id is None):
        raise SignInRefused(f"The role configured for {name} ({entry!r}) is not valid.")
    account = session.scalar(select(Account).where(Account.username == name))
    if account is None:
        account = create_account(
            session,
            username=name,
            display_name=name,
            role=role,
            password=None,
            provider_id=provider_id,
        )
    elif (account.role, account.provider_id) != (role, provider_id):
        raise SignInRefused(f"The account {name} has another role; ask an admin.")
    account.last_login_at = utcnow()
    return _signed_in(account)


def sign_in(
    sessions: sessionmaker[Session], *, username: str, password: str, now: datetime | None = None
) -> SignedIn:
    """`authenticate` in a transaction of its own that is committed even when it refuses,
    so a failed attempt is counted."""
    refused: SignInRefused | None = None
    with session_scope(sessions) as session:
        try:
            return authenticate(session, username=username, password=password, now=now)
        except SignInRefused as error:
            refused = error
    raise refused
