"""Money is integer cents; these turn it into text for people and back."""

from __future__ import annotations

import re

from core.errors import InvalidInput

SYMBOLS = {"usd": "$", "cad": "CA$", "aud": "A$", "eur": "€", "gbp": "£"}
MAX_PRICE_CENTS = 10_000_000  # $100,000: far above any home-services job, well inside int64


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


def check_price(cents: int) -> int:
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise InvalidInput("price must be a whole number of cents")
    if not 0 < cents <= MAX_PRICE_CENTS:
        raise InvalidInput(
            f"price must be between 1 and {MAX_PRICE_CENTS} cents ({format_cents(MAX_PRICE_CENTS)})"
        )
    return cents
