"""Settings from the environment (and `.env`), with defaults that run everything locally.

With nothing set, the system uses a SQLite file under `data/` and the Stripe sandbox on
127.0.0.1:12111. With `STRIPE_SECRET_KEY=sk_test_...` and no `STRIPE_API_BASE`, it talks
to real Stripe in test mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_URL = "http://127.0.0.1:12111"
SANDBOX_KEY = "sk_test_sandbox"
PasswordHashProfile = Literal["strong", "fast"]
_SMTP_PORTS = {"smtp": 25, "smtps": 465}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class SmtpServer:
    """Where e-mail is handed over, read from SMTP_URL: `smtp://` (plain, or STARTTLS with
    `?starttls=1`) or `smtps://` (TLS from the first byte); `?timeout=SECONDS` per call."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None = field(repr=False)
    timeout: float = 30.0

    def describe(self) -> str:
        """The server as logs and summaries may show it: never with the password."""
        who = f"{self.username}@" if self.username else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        tls = " (STARTTLS)" if self.starttls else ""
        return f"{scheme}://{who}{self.host}:{self.port}{tls}"


def parse_smtp_url(url: str) -> SmtpServer:
    """SMTP_URL as a server; a ValueError names what is wrong, never the URL (it may carry
    the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SMTP_PORTS:
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("SMTP_URL names no host")
    try:
        port = parts.port or _SMTP_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("SMTP_URL has an invalid port") from None
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"starttls", "timeout"})
    if unknown:
        raise ValueError(f"SMTP_URL has unknown options: {', '.join(unknown)}")
    flag = options.get("starttls", "0").lower()
    if flag not in _TRUE + _FALSE:
        raise ValueError("SMTP_URL's starttls must be 1 or 0")
    starttls = flag in _TRUE
    if starttls and parts.scheme == "smtps":
        raise ValueError("SMTP_URL: smtps:// is TLS already; starttls is for smtp://")
    try:
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        raise ValueError("SMTP_URL's timeout must be a number of seconds") from None
    if not 0 < timeout <= 600:
        raise ValueError("SMTP_URL's timeout must be between 0 and 600 seconds")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=timeout,
    )


def parse_reminder_schedule(text: str) -> tuple[int, ...]:
    """REMINDER_SCHEDULE ("-3,0,3,7,14") as distinct days in order; empty means no reminders.
    A ValueError names what is wrong."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        days = [int(part) for part in parts]
    except ValueError:
        raise ValueError(
            "REMINDER_SCHEDULE must be whole days from the due date, e.g. -3,0,3,7,14"
        ) from None
    if len(set(days)) != len(days):
        raise ValueError("REMINDER_SCHEDULE names a day twice")
    if any(abs(day) > 365 for day in days):
        raise ValueError("REMINDER_SCHEDULE's days must be within a year of the due date")
    return tuple(sorted(days))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'app.db'}"
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # While an endpoint's signing secret is rotated: the secret being replaced, still
    # accepted beside the new one until it is removed (docs/operations.md).
    stripe_webhook_secret_previous: SecretStr | None = None
    # None: the sandbox when no key is configured, real Stripe when one is; "" forces Stripe.
    stripe_api_base: str | None = None
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    invoice_days_until_due: int = Field(default=7, ge=1, le=365)
    app_secret_key: SecretStr = SecretStr("dev-only-secret-change-me-in-production-please")
    stripe_timeout_seconds: float = Field(default=30.0, gt=0)
    # Argon2 cost of new password hashes: "strong" for anything real; "fast" (a fraction of
    # a millisecond, no protection worth the name) only for tests. Verifying reads the cost
    # from the stored hash, so hashes made under either profile verify under both.
    password_hash_profile: PasswordHashProfile = "strong"
    # Payment reminders: days from an invoice's due date, negative before it
    # (core.billing.reminders); the property `reminder_steps` holds them parsed.
    reminder_schedule: str = "-3,0,3,7,14"
    # Where exports too big for a page request are written, with their status files.
    export_dir: Path = PROJECT_ROOT / "data" / "exports"
    # Where e-mail goes (see SmtpServer); unset, messages wait as `not_configured`.
    smtp_url: SecretStr | None = None
    mail_from: str = "Marketplace <no-reply@marketplace.example>"

    @field_validator("currency", mode="before")
    @classmethod
    def _lower_currency(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if "@" not in address or "\n" in value or "\r" in value:
            raise ValueError("MAIL_FROM must be an address: Marketplace <no-reply@example.com>")
        return value

    @property
    def smtp(self) -> SmtpServer | None:
        """The SMTP server, or None while SMTP_URL is not set (or empty). Parsed here, not
        by a validator: a settings error would print the URL, password and all."""
        url = self.smtp_url.get_secret_value().strip() if self.smtp_url else ""
        return parse_smtp_url(url) if url else None

    @field_validator("reminder_schedule")
    @classmethod
    def _check_reminder_schedule(cls, value: str) -> str:
        parse_reminder_schedule(value)
        return value

    @property
    def reminder_steps(self) -> tuple[int, ...]:
        return parse_reminder_schedule(self.reminder_schedule)

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The signing secrets a webhook may be signed with: the current one, then the one
        being rotated out (if set)."""
        given = (self.stripe_webhook_secret, self.stripe_webhook_secret_previous)
        return tuple(s.get_secret_value() for s in given if s and s.get_secret_value())

    @property
    def uses_sandbox(self) -> bool:
        return self.stripe_api_base is None and self.stripe_secret_key is None

    @property
    def stripe_key(self) -> str:
        if self.stripe_secret_key is not None:
            return self.stripe_secret_key.get_secret_value()
        return SANDBOX_KEY

    @property
    def stripe_base(self) -> str | None:
        """The API base address; None means Stripe's own."""
        if self.stripe_api_base is not None:
            return self.stripe_api_base or None
        return SANDBOX_URL if self.stripe_secret_key is None else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
