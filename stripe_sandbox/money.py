"""Money: integer minor units, the currencies the sandbox takes, and Stripe's minimum charges."""

from __future__ import annotations

SYMBOLS = {"usd": "$", "cad": "CA$", "aud": "A$", "eur": "€", "gbp": "£"}

# The currencies invoices and invoice items may be in (all two-decimal currencies).
CURRENCIES = ("usd", "eur", "gbp", "cad", "aud")

# Stripe's minimum charge amount per currency, in minor units, from the table "Minimum and
# maximum charge amounts" at docs.stripe.com/currencies. A finalized invoice whose amount
# due is above zero but below it is marked paid with nothing collected, and the amount is
# moved onto the customer's balance for their next invoice.
MINIMUM_CHARGE = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,  # a zero-decimal currency: ¥50
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
}


def format_amount(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    symbol = SYMBOLS.get(currency.lower(), currency.upper() + " ")
    return f"{sign}{symbol}{whole:,}.{fraction:02d}"
