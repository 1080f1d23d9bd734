"""Money shown to people: integer minor units rendered with the currency's symbol."""

from __future__ import annotations

SYMBOLS = {"usd": "$", "cad": "CA$", "aud": "A$", "eur": "€", "gbp": "£"}


def format_amount(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    symbol = SYMBOLS.get(currency.lower(), currency.upper() + " ")
    return f"{sign}{symbol}{whole:,}.{fraction:02d}"
