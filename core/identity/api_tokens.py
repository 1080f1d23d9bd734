"""Bearer tokens for the REST API: JWTs signed with APP_SECRET_KEY, carrying a role, the
id the role is bound to, and an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

from core.config import Settings
from core.db.models import utcnow
from core.errors import AppError, InvalidInput
from core.identity.actor import Actor

ALGORITHM = "HS256"
ISSUER = "job-to-paid"
API_ROLES = ("customer", "provider", "admin", "finance")
MAX_TTL = timedelta(days=30)


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"


def issue_token(
    settings: Settings,
    *,
    role: str,
    subject_id: int | None,
    ttl: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> str:
    if role not in API_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(API_ROLES)}")
    if role in ("customer", "provider") and subject_id is None:
        raise InvalidInput(f"a {role} token needs the {role}'s id")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidInput("a token lives between one second and 30 days")
    now = now or utcnow()
    claims = {
        "iss": ISSUER,
        "sub": f"{role}:{subject_id}" if subject_id is not None else role,
        "role": role,
        "id": subject_id,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.app_secret_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(settings: Settings, token: str, *, now: datetime | None = None) -> Actor:
    """The actor a token speaks for at `now` (default: the current time); NotAuthenticated
    for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.app_secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # The times are checked below, against `now` rather than PyJWT's own clock.
            options={
                "require": ["exp", "iat", "iss", "role"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError:
        raise NotAuthenticated("The token is not valid.") from None
    _check_times(claims, (now or utcnow()).timestamp())
    role, subject = claims.get("role"), claims.get("id")
    if role not in API_ROLES or (subject is not None and not isinstance(subject, int)):
        raise NotAuthenticated("The token is not valid.")
    if role in ("customer", "provider") and subject is None:
        raise NotAuthenticated("The token is not valid.")
    return Actor(role, subject)


def _check_times(claims: dict[str, Any], now: float) -> None:
    """What PyJWT would check against its own clock, against `now`: issued (and valid from)
    no later than now, and expiring after it."""
    issued, expires = claims["iat"], claims["exp"]
    not_before = claims.get("nbf", issued)
    if not all(_is_time(value) for value in (issued, expires, not_before)):
        raise NotAuthenticated("The token is not valid.")
    if issued > now or not_before > now:
        raise NotAuthenticated("The token is not valid.")
    if expires <= now:
        raise NotAuthenticated("The token has expired; ask for a new one.")


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_ttl(text: str) -> timedelta:
    """ "90s", "30m", "1h", "7d"."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if len(text) < 2 or not text[:-1].isdigit() or text[-1] not in units:
        raise InvalidInput(f"--ttl takes 90s, 30m, 1h or 7d, not {text!r}")
    return timedelta(**{units[text[-1]]: int(text[:-1])})
