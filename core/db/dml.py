"""Statements on the webhook hot path, compiled once per dialect.

SQLAlchemy's `Connection.execute` looks each statement up in its compiled cache, builds
its parameters and sets up type processing on every call: several times what the driver
itself costs. `Precompiled` does that work once per dialect and runs the SQL through
`Connection.exec_driver_sql`, which keeps SQLAlchemy's transaction, events and error
handling (a lost connection is still a retryable `DBAPIError` that invalidates the pool).
Bind types still apply (aware datetimes become SQLite's naive UTC); results come back as
the driver gives them, so these statements read only plain columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

_INSERTS: dict[str, Callable[[Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # parameter names in order, for positional drivers
    constants: dict[str, Any]  # values the statement itself carries (`status == "pending"`)
    processors: dict[str, Callable[[Any], Any]]


class Precompiled:
    """A Core statement, compiled on first use for each dialect and run as driver SQL.

    `build` makes the statement from the dialect's `insert` constructor (for
    `INSERT ... ON CONFLICT`, which differs per dialect) or ignores it; `column_keys` are
    the columns an INSERT or UPDATE takes from the parameters, as `execute` would find
    them in its parameter dictionary.
    """

    def __init__(
        self, build: Callable[[Callable[[Table], Any]], Any], column_keys: Sequence[str] = ()
    ) -> None:
        self._build = build
        self._column_keys = list(column_keys)
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, connection: Connection, parameters: Mapping[str, Any]) -> CursorResult[Any]:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**compiled.constants, **parameters}
        for name, process in compiled.processors.items():
            values[name] = process(values[name])
        if compiled.positions is None:
            return connection.exec_driver_sql(compiled.sql, values)
        return connection.exec_driver_sql(
            compiled.sql, tuple(values[name] for name in compiled.positions)
        )

    def _compile(self, dialect: Dialect) -> _Compiled:
        make = _INSERTS.get(dialect.name)
        if make is None:
            raise NotImplementedError(f"no ON CONFLICT support for {dialect.name}")
        compiler = self._build(make).compile(dialect=dialect, column_keys=self._column_keys or None)
        assert isinstance(compiler, SQLCompiler)
        if compiler.literal_execute_params or compiler.post_compile_params:
            raise ValueError("expanding parameters (IN lists) cannot be precompiled")
        constants: dict[str, Any] = {}
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiler.bind_names.items():
            if not bind.required:
                constants[name] = bind.effective_value
            process = bind.type.bind_processor(dialect)
            if process is not None:
                processors[name] = process
        positions = tuple(compiler.positiontup) if compiler.positiontup is not None else None
        compiled = self._compiled[dialect.name] = _Compiled(
            compiler.string, positions, constants, processors
        )
        return compiled


def plain(statement: Any) -> Callable[[Callable[[Table], Any]], Any]:
    """`build` for a statement that is the same in every dialect."""
    return lambda insert: statement
