"""Money as integer cents (formatting, parsing, price bounds) and settings from the environment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from core.config import PROJECT_ROOT, SANDBOX_KEY, SANDBOX_URL, Settings
from core.errors import InvalidInput
from core.money import MAX_PRICE_CENTS, check_price, format_cents, minimum_charge, parse_cents

# format_cents


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (15000, "usd", "$150.00"),
        (0, "usd", "$0.00"),
        (5, "usd", "$0.05"),
        (99, "usd", "$0.99"),
        (100, "usd", "$1.00"),
        (123456789, "usd", "$1,234,567.89"),
        (-1250, "usd", "-$12.50"),
        (-5, "usd", "-$0.05"),
        (2**40, "usd", "$10,995,116,277.76"),
        (4550, "eur", "€45.50"),
        (4550, "EUR", "€45.50"),
        (4550, "gbp", "£45.50"),
        (4550, "cad", "CA$45.50"),
        (4550, "aud", "A$45.50"),
        (123450, "chf", "CHF 1,234.50"),
    ],
)
def test_format_cents(cents: int, currency: str, text: str) -> None:
    assert format_cents(cents, currency) == text


def test_format_cents_defaults_to_dollars() -> None:
    assert format_cents(15000) == "$150.00"


# parse_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("150", 15000),
        ("150.5", 15050),
        ("150.05", 15005),
        ("150.00", 15000),
        ("0.01", 1),
        ("0", 0),
        ("$1,250.00", 125000),
        ("  $7.25  ", 725),
        ("1,000,000", 100000000),
    ],
)
def test_parse_cents_reads_amounts(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "$",
        "-5",
        "$-5",
        "-$5",
        "1.234",  # a fraction of a cent
        "1.",
        ".5",
        "1.2.3",
        "abc",
        "12abc",
        "1e3",
        "+5",
        "5 00",
        "nan",
        "inf",
    ],
)
def test_parse_cents_refuses_negatives_fractions_of_a_cent_and_junk(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cents(text)
    assert caught.value.status_code == 422
    assert repr(text) in caught.value.message


def test_parse_and_format_round_trip() -> None:
    for cents in (1, 99, 100, 15050, 123456789):
        assert parse_cents(format_cents(cents)) == cents


# check_price


@pytest.mark.parametrize("cents", [50, 15000, MAX_PRICE_CENTS])
def test_check_price_accepts_whole_cents_within_bounds(cents: int) -> None:
    assert check_price(cents) == cents


@pytest.mark.parametrize("cents", [0, 1, 49, -1, -15000, MAX_PRICE_CENTS + 1, 2**63])
def test_check_price_refuses_out_of_bounds(cents: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_price(cents)
    assert "between $0.50 (Stripe's minimum charge) and" in caught.value.message
    assert format_cents(MAX_PRICE_CENTS) in caught.value.message


@pytest.mark.parametrize(
    ("currency", "lowest"), [("usd", 50), ("eur", 50), ("gbp", 30), ("dkk", 250), ("xyz", 50)]
)
def test_a_price_below_stripes_minimum_charge_for_the_currency_is_refused(
    currency: str, lowest: int
) -> None:
    assert minimum_charge(currency) == lowest
    assert check_price(lowest, currency) == lowest
    with pytest.raises(InvalidInput, match="minimum charge"):
        check_price(lowest - 1, currency)


@pytest.mark.parametrize("value", [True, False, 150.0, 0.5, Decimal("150"), "15000", None])
def test_check_price_refuses_bools_floats_and_other_types(value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_price(value)
    assert "whole number of cents" in caught.value.message


def test_max_price_is_a_hundred_thousand_dollars() -> None:
    assert format_cents(MAX_PRICE_CENTS) == "$100,000.00"


# Settings

ENV_NAMES = (
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "CURRENCY",
    "INVOICE_DAYS_UNTIL_DUE",
    "APP_SECRET_KEY",
    "STRIPE_TIMEOUT_SECONDS",
    "PASSWORD_HASH_PROFILE",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_defaults_use_sqlite_under_data_and_the_sandbox(clean_env: pytest.MonkeyPatch) -> None:
    settings = load()

    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'app.db'}"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/data/app.db")
    assert settings.stripe_secret_key is None
    assert settings.stripe_api_base is None
    assert settings.uses_sandbox is True
    assert settings.stripe_base == SANDBOX_URL == "http://127.0.0.1:12111"
    assert settings.stripe_key == SANDBOX_KEY
    assert settings.stripe_key.startswith("sk_test_")
    assert settings.currency == "usd"
    assert settings.invoice_days_until_due == 7
    assert settings.stripe_timeout_seconds == 30.0
    assert settings.password_hash_profile == "strong"


def test_database_url_comes_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://app@db:5432/app")
    assert load().database_url == "postgresql+psycopg://app@db:5432/app"


def test_a_secret_key_means_real_stripe(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STRIPE_SECRET_KEY", "sk_test_real_account_key")
    settings = load()

    assert settings.stripe_base is None
    assert settings.uses_sandbox is False
    assert settings.stripe_key == "sk_test_real_account_key"


def test_a_secret_key_with_an_api_base_uses_that_base(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    clean_env.setenv("STRIPE_API_BASE", "http://127.0.0.1:40000")
    settings = load()

    assert settings.stripe_base == "http://127.0.0.1:40000"
    assert settings.stripe_key == "sk_test_x"
    assert settings.uses_sandbox is False


def test_an_empty_api_base_forces_real_stripe(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STRIPE_API_BASE", "")
    settings = load()

    assert settings.stripe_api_base == ""
    assert settings.stripe_base is None
    assert settings.uses_sandbox is False


def test_an_api_base_without_a_key_uses_the_sandbox_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STRIPE_API_BASE", "http://127.0.0.1:40001")
    settings = load()

    assert settings.stripe_base == "http://127.0.0.1:40001"
    assert settings.stripe_key == SANDBOX_KEY


@pytest.mark.parametrize(("given", "stored"), [("EUR", "eur"), ("Usd", "usd"), ("gbp", "gbp")])
def test_currency_is_lower_cased(clean_env: pytest.MonkeyPatch, given: str, stored: str) -> None:
    clean_env.setenv("CURRENCY", given)
    assert load().currency == stored


@pytest.mark.parametrize("given", ["dollars", "us", "u5d", "", "€€€", "usd "])
def test_currency_must_be_three_letters(clean_env: pytest.MonkeyPatch, given: str) -> None:
    clean_env.setenv("CURRENCY", given)
    with pytest.raises(ValidationError) as caught:
        load()
    assert "currency" in str(caught.value)


@pytest.mark.parametrize("days", [1, 7, 30, 365])
def test_days_until_due_within_bounds(clean_env: pytest.MonkeyPatch, days: int) -> None:
    clean_env.setenv("INVOICE_DAYS_UNTIL_DUE", str(days))
    assert load().invoice_days_until_due == days


@pytest.mark.parametrize("days", ["0", "-1", "366", "seven", "1.5"])
def test_days_until_due_out_of_bounds_is_refused(clean_env: pytest.MonkeyPatch, days: str) -> None:
    clean_env.setenv("INVOICE_DAYS_UNTIL_DUE", days)
    with pytest.raises(ValidationError) as caught:
        load()
    assert "invoice_days_until_due" in str(caught.value)


@pytest.mark.parametrize("timeout", ["0", "-3"])
def test_stripe_timeout_must_be_positive(clean_env: pytest.MonkeyPatch, timeout: str) -> None:
    clean_env.setenv("STRIPE_TIMEOUT_SECONDS", timeout)
    with pytest.raises(ValidationError):
        load()


def test_secrets_never_show_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STRIPE_SECRET_KEY", "sk_test_TOPSECRET_stripe_key_123")
    clean_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_TOPSECRET_signing_456")
    clean_env.setenv("APP_SECRET_KEY", "TOPSECRET_app_789")
    settings = load()

    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "TOPSECRET" not in text
    assert isinstance(settings.stripe_secret_key, SecretStr)
    assert settings.stripe_key == "sk_test_TOPSECRET_stripe_key_123"
    assert settings.stripe_webhook_secret is not None
    assert settings.stripe_webhook_secret.get_secret_value() == "whsec_TOPSECRET_signing_456"


def test_default_app_secret_is_hidden_too(clean_env: pytest.MonkeyPatch) -> None:
    settings = load()
    assert "dev-only-secret" not in repr(settings)
    assert (
        settings.app_secret_key.get_secret_value()
        == "dev-only-secret-change-me-in-production-please"
    )
