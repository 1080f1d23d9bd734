"""Bearer tokens for the REST API: JWTs signed with APP_SECRET_KEY, carrying a role, the
id the role is bound to, and an expiry."""

from __future__ import annotations

from datetime import timedelta

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
    settings: Settings, *, role: str, subject_id: int | None, ttl: timedelta = timedelta(hours=1)
) -> str:
    if role not in API_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(API_ROLES)}")
    if role in ("customer", "provider") and subject_id is None:
        raise InvalidInput(f"a {role} token needs the {role}'s id")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidInput("a token lives between one second and 30 days")
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": f"{role}:{subject_id}" if subject_id is not None else role,
        "role": role,
        "id": subject_id,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.app_secret_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> Actor:
    """The actor a token speaks for; NotAuthenticated for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.app_secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("The token has expired; ask for a new one.") from None
    except jwt.InvalidTokenError:
        raise NotAuthenticated("The token is not valid.") from None
    role, subject = claims.get("role"), claims.get("id")
    if role not in API_ROLES or (subject is not None and not isinstance(subject, int)):
        raise NotAuthenticated("The token is not valid.")
    if role in ("customer", "provider") and subject is None:
        raise NotAuthenticated("The token is not valid.")
    return Actor(role, subject)


def parse_ttl(text: str) -> timedelta:
    """ "90s", "30m", "1h", "7d"."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if len(text) < 2 or not text[:-1].isdigit() or text[-1] not in units:
        raise InvalidInput(f"--ttl takes 90s, 30m, 1h or 7d, not {text!r}")
    return timedelta(**{units[text[-1]]: int(text[:-1])})
