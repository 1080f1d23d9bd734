"""Settings from the environment (and `.env`), with defaults that run everything locally.

With nothing set, the system uses a SQLite file under `data/` and the Stripe sandbox on
127.0.0.1:12111. With `STRIPE_SECRET_KEY=sk_test_...` and no `STRIPE_API_BASE`, it talks
to real Stripe in test mode.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_URL = "http://127.0.0.1:12111"
SANDBOX_KEY = "sk_test_sandbox"
PasswordHashProfile = Literal["strong", "fast"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'app.db'}"
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
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
    # Where exports too big for a page request are written, with their status files.
    export_dir: Path = PROJECT_ROOT / "data" / "exports"

    @field_validator("currency", mode="before")
    @classmethod
    def _lower_currency(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

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
