"""How values look on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from core.money import format_cents

BRAND = "#635bff"  # the theme's primary colour, for charts

# A colour for each status word of jobs, payments and invoices (the invoice words are
# core.billing.invoice_status.SHOWN_STATUSES), as the theme names them for st.badge and
# for coloured pills in tables: plain words on colour, no emoji font needed. Red needs
# someone to act or is money lost, orange waits on someone, green is done; money that
# moved back is violet while part of the payment stays, gray once all of it went back.
Colour = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "primary"]
STATUS_COLOURS: dict[str, Colour] = {
    "new": "blue",
    "completed": "orange",
    "cancelled": "gray",
    "pending": "orange",
    "received": "green",
    "none": "gray",
    "draft": "gray",
    "open": "blue",
    "overdue": "red",
    "paid": "green",
    "partly refunded": "violet",
    "refunded": "gray",
    "disputed": "orange",  # the money is held while the bank decides
    "dispute lost": "red",
    "void": "gray",
    "uncollectible": "red",
}
# The words people read where a status value is not a word by itself.
STATUS_WORDS = {"none": "not invoiced"}


def money(cents: int) -> str:
    return format_cents(cents)


def when(value: datetime | None, with_time: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def status_colour(status: str) -> Colour:
    return STATUS_COLOURS.get(status, "gray")


def dollars(cents: int | None) -> float | None:
    """Cents as dollars for a numeric table column (formatted there, sorted as numbers)."""
    return None if cents is None else cents / 100


def ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"{seconds} seconds ago"
