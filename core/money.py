"""Money is integer cents; these turn it into text for people and back."""

from __future__ import annotations

import re

from core.errors import InvalidInput

SYMBOLS = {"usd": "$", "cad": "CA$", "aud": "A$", "eur": "€", "gbp": "£"}
MAX_PRICE_CENTS = 10_000_000  # $100,000: far above any home-services job, well inside int64
# Stripe's minimum charge per currency, in minor units (docs.stripe.com/currencies). Stripe
# marks an invoice below it paid at once, collects nothing and moves the amount onto the
# customer's credit balance, so a price below it must never reach an invoice.
MINIMUM_CHARGE = {
    "usd": 50,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "eur": 50,
    "chf": 50,
    "sgd": 50,
    "gbp": 30,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
    "hkd": 400,
    "mxn": 1000,
}
DEFAULT_MINIMUM_CHARGE = 50


def format_cents(cents: int, currency: str = "usd") -> str:
    """15000 → "$150.00"."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{SYMBOLS.get(currency.lower(), currency.upper() + ' ')}{whole:,}.{fraction:02d}"


def parse_cents(text: str) -> int:
    """ "150", "150.5", "$1,250.00" → cents; refuses negatives, fractions of a cent and junk."""
    cleaned = text.strip().replace(",", "").lstrip("$")
    if not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", cleaned):  # ASCII digits only
        raise InvalidInput(f"{text!r} is not an amount like 150 or 150.00")
    whole, _, fraction = cleaned.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


def minimum_charge(currency: str) -> int:
    return MINIMUM_CHARGE.get(currency.lower(), DEFAULT_MINIMUM_CHARGE)


def check_price(cents: int, currency: str = "usd") -> int:
    """A price Stripe can invoice: whole cents, from the currency's minimum charge up."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise InvalidInput("price must be a whole number of cents")
    low = minimum_charge(currency)
    if not low <= cents <= MAX_PRICE_CENTS:
        raise InvalidInput(
            f"price must be between {format_cents(low, currency)} (Stripe's minimum charge) "
            f"and {format_cents(MAX_PRICE_CENTS, currency)}: {low} to {MAX_PRICE_CENTS} cents"
        )
    return cents
