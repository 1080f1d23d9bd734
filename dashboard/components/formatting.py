"""How values look on the pages."""

from __future__ import annotations

from datetime import datetime

from core.money import format_cents

BRAND = "#635bff"  # the theme's primary colour, for charts

# Plain words read everywhere (no emoji font needed); the ones that need action stand out.
STATUS_BADGES = {"none": "—", "overdue": "OVERDUE", "uncollectible": "UNCOLLECTIBLE"}


def money(cents: int) -> str:
    return format_cents(cents)


def when(value: datetime | None, with_time: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def badge(status: str) -> str:
    return STATUS_BADGES.get(status, status)


def ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"{seconds} seconds ago"
