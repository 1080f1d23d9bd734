"""`INSERT ... ON CONFLICT` statements built once per dialect, for the hot paths that run
them on every event (building and caching a statement costs more than running it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
_BUILT: dict[tuple[str, str], Any] = {}


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def upsert_statement(session: Session, name: str, build: Callable[[Any], Any]) -> Any:
    """The statement `build` makes from this dialect's `insert(...)` constructor, built on
    first use and kept under `name`."""
    dialect = dialect_of(session)
    key = (dialect, name)
    statement = _BUILT.get(key)
    if statement is None:
        make = _INSERTS.get(dialect)
        if make is None:
            raise NotImplementedError(f"no ON CONFLICT support for {dialect}")
        statement = _BUILT[key] = build(make)
    return statement
