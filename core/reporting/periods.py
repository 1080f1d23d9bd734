"""Calendar periods in SQL, for SQLite and PostgreSQL alike (all times are UTC)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import func, literal_column
from sqlalchemy.sql.elements import ColumnElement

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")


def period_start(column: Any, period: Period, dialect: str) -> ColumnElement[str]:
    """The first day of the period holding `column`, as 'YYYY-MM-DD' (weeks start Monday)."""
    if dialect == "sqlite":
        if period == "day":
            return func.date(column)
        if period == "week":
            # Back six days, then forward to a Monday: the Monday on or before the date.
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-01", column)
    utc = func.timezone(literal_column("'UTC'"), column)
    return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")
