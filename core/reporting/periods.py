"""Calendar periods in SQL, for SQLite and PostgreSQL alike (all times are UTC).

A query groups by `period_key`, a value that is the same for every moment of a period and
sorts as the periods do; `period_label` turns each key into the period's first day,
'YYYY-MM-DD', in Python. Grouping by a text label computed per row would make PostgreSQL
format every row and sort them all (spilling to disk on large reports); a `date_trunc`
value groups in a hash table and is formatted once per group. `period_labels` lists every
period of a date range the same way, so that a report can show the empty ones as well.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Date, cast, func, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")


def period_key(column: Any, period: Period, dialect: str) -> ColumnElement[Any]:
    """The period holding `column` (weeks start Monday): on PostgreSQL its first moment
    (`date_trunc` in UTC, a timestamp), on SQLite its first day as 'YYYY-MM-DD' text."""
    if dialect == "sqlite":
        if period == "day":
            return func.date(column)
        if period == "week":
            # Back six days, then forward to a Monday: the Monday on or before the date.
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-01", column)
    # Written as literals, so the expression is the one migration 0005 keeps statistics on
    # (how many periods there are is what lets PostgreSQL group them in a hash table).
    utc = func.timezone(literal_column("'UTC'"), column)
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    return func.date_trunc(literal_column(f"'{period}'"), utc)


def utc_date(column: Any, dialect: str) -> ColumnElement[date]:
    """The UTC calendar date of a timestamp column, as a date, worked out by the database."""
    if dialect == "sqlite":  # stored as naive UTC text; SQLAlchemy parses the 'YYYY-MM-DD'
        return type_coerce(func.date(column), Date)
    return cast(func.timezone(literal_column("'UTC'"), column), Date)


def period_label(key: Any) -> str:
    """The first day of the period `period_key` gave, as 'YYYY-MM-DD'."""
    if isinstance(key, datetime | date):
        return key.strftime("%Y-%m-%d")
    return str(key)


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding `day`, as `period_key` has it (weeks start Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def period_labels(start: date, end: date, period: Period) -> list[str]:
    """`period_label` of every period holding a day from `start` to `end`, in order."""
    labels = []
    first = period_start(start, period)
    while first <= end:
        labels.append(period_label(first))
        if period == "day":
            first += timedelta(days=1)
        elif period == "week":
            first += timedelta(weeks=1)
        else:
            first = (first + timedelta(days=31)).replace(day=1)
    return labels
