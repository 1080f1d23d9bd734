"""Dashboard sessions that outlive a page: a signed cookie naming a server-side record.

A sign-in (password or single sign-on) gets a one-time ticket, good for a minute, which
the browser trades for the session cookie (`start_session`). The cookie carries a random
token signed with APP_SECRET_KEY; the database keeps only the token's SHA-256, with the
role and provider binding the account had when the ticket was issued. A session is refused
once it expires, is revoked (signing out), or its account was disabled or given another
role or provider since; such a session is revoked for good, so restoring the role does not
bring it back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from core import audit
from core.config import Settings
from core.db.models import Account, DashboardSession, DashboardSignInTicket, utcnow
from core.db.session import session_scope
from core.errors import AppError
from core.identity.accounts import SignedIn, actor_of, signed_in_account
from core.identity.actor import SYSTEM

SESSION_LIFETIME = timedelta(hours=12)
TICKET_LIFETIME = timedelta(minutes=1)
DISABLED = "This account is disabled. Ask an admin."


class SessionRefused(AppError):
    status_code = 401
    code = "session_refused"


@dataclass(frozen=True)
class StartedSession:
    cookie: str  # the signed value to set as the cookie
    expires_at: datetime
    user: SignedIn


def _digest(secret_value: str) -> str:
    return hashlib.sha256(secret_value.encode()).hexdigest()


def _signer(settings: Settings) -> Signer:
    return Signer(
        settings.app_secret_key.get_secret_value(),
        salt="dashboard-session",
        digest_method=hashlib.sha256,
    )


def _token_of(settings: Settings, cookie: str) -> str | None:
    try:
        return _signer(settings).unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def _refusal(account: Account | None, role: str, provider_id: int | None) -> str | None:
    """Why an account may no longer use what was issued to it as `role`, or None."""
    if account is None:
        return "account_gone"
    if account.disabled_at is not None:
        return "account_disabled"
    if (account.role, account.provider_id) != (role, provider_id):
        return "role_changed"
    return None


def signed_in_as_issued(
    session: Session, account_id: int, role: str, provider_id: int | None
) -> SignedIn | None:
    """The account, if it is still enabled and has the role and provider it signed in with."""
    account = session.get(Account, account_id)
    if _refusal(account, role, provider_id) is not None:
        return None
    return signed_in_account(session, account_id)


def issue_ticket(session: Session, user: SignedIn, *, now: datetime | None = None) -> str:
    """A one-time ticket for the account `user` just proved to be; SessionRefused for a
    disabled (or vanished) account."""
    now = now or utcnow()
    account = session.get(Account, user.account_id)
    if account is None or account.disabled_at is not None:
        raise SessionRefused(DISABLED)
    # Expired tickets are of no use to anyone: each sign-in sweeps them away.
    session.execute(delete(DashboardSignInTicket).where(DashboardSignInTicket.expires_at <= now))
    ticket = secrets.token_urlsafe(32)
    session.add(
        DashboardSignInTicket(
            id=_digest(ticket),
            account_id=account.id,
            role=account.role,
            provider_id=account.provider_id,
            created_at=now,
            expires_at=now + TICKET_LIFETIME,
        )
    )
    return ticket


def start_session(
    session: Session, settings: Settings, ticket: str, *, now: datetime | None = None
) -> StartedSession:
    """Trade a ticket, once and within its minute, for a new session and its cookie."""
    now = now or utcnow()
    ticket_id = _digest(ticket)
    # The conditional update is the one-time check: of two trades of one ticket, one wins.
    claimed = session.execute(
        update(DashboardSignInTicket)
        .where(
            DashboardSignInTicket.id == ticket_id,
            DashboardSignInTicket.used_at.is_(None),
            DashboardSignInTicket.expires_at > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise SessionRefused("This sign-in link was used already or has expired. Sign in again.")
    issued = session.get_one(DashboardSignInTicket, ticket_id)
    account = session.get(Account, issued.account_id)
    if account is None or _refusal(account, issued.role, issued.provider_id) is not None:
        raise SessionRefused("This account cannot sign in any more. Ask an admin.")
    token = secrets.token_urlsafe(32)
    record = DashboardSession(
        id=_digest(token),
        account_id=account.id,
        role=issued.role,
        provider_id=issued.provider_id,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(record)
    audit.record(
        session,
        actor=actor_of(account),
        action="dashboard.sign_in",
        job_id=None,
        after={"account": account.username, "expires_at": record.expires_at.isoformat()},
    )
    user = signed_in_account(session, account.id)
    assert user is not None  # read in this transaction just above
    return StartedSession(_signer(settings).sign(token).decode(), record.expires_at, user)


def _revoke(session: Session, session_id: str, reason: str, now: datetime) -> bool:
    """Revoke one session (once) and record why; False when it was revoked already."""
    revoked = session.execute(
        update(DashboardSession)
        .where(DashboardSession.id == session_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_because=reason)
    )
    if revoked.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record = session.get_one(DashboardSession, session_id)
    account = session.get(Account, record.account_id)
    audit.record(
        session,
        actor=actor_of(account) if reason == "signed_out" and account else SYSTEM,
        action="dashboard.sign_out" if reason == "signed_out" else "dashboard.session_revoked",
        job_id=None,
        reason=reason.replace("_", " "),
        before={"account": account.username if account else record.account_id},
    )
    return True


def signed_in_by_cookie(
    readers: sessionmaker[Session],
    sessions: sessionmaker[Session],
    settings: Settings,
    cookie: str,
    *,
    now: datetime | None = None,
) -> SignedIn | None:
    """Who the cookie signs in at `now`, or None.

    Read without a write lock; only a session found to outlive its account's role (or the
    account) is revoked, in a short transaction of its own.
    """
    now = now or utcnow()
    token = _token_of(settings, cookie)
    if token is None:
        return None
    session_id = _digest(token)
    with session_scope(readers) as session:
        record = session.get(DashboardSession, session_id)
        if record is None or record.revoked_at is not None or record.expires_at <= now:
            return None
        account = session.get(Account, record.account_id)
        reason = _refusal(account, record.role, record.provider_id)
        if reason is None:
            return signed_in_account(session, record.account_id)
    with session_scope(sessions) as session:
        _revoke(session, session_id, reason, now)
    return None


def end_session(
    session: Session, settings: Settings, cookie: str, *, now: datetime | None = None
) -> bool:
    """Sign out: revoke the cookie's session. False for a cookie naming no live session."""
    token = _token_of(settings, cookie)
    if token is None:
        return False
    return _revoke(session, _digest(token), "signed_out", now or utcnow())
