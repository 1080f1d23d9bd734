"""Engine and sessions. SQLite gets WAL, a busy timeout, foreign keys, and write transactions
that take the write lock at BEGIN; PostgreSQL is used as it comes, with connections that
sat idle in the pool pinged before use.

Two session factories share one engine's pool: `make_session_factory` for units of work that
write (SQLite: `BEGIN IMMEDIATE`), `make_read_session_factory` for those that only read
(SQLite: a deferred `BEGIN` under `PRAGMA query_only`, so a reader never holds or waits for
the write lock and a write attempted through it fails at once; PostgreSQL: `BEGIN READ ONLY`).

Sessions commit at the boundary (`session_scope`); services only flush.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Connections kept open per engine, and how many more a burst may open (closed again when
# returned): above the webhook service's intake threads (WEBHOOK_THREADS) plus its readers,
# so a steady load never opens and closes connections (a PostgreSQL backend apiece).
POOL_SIZE = 12
POOL_OVERFLOW = 20
# A PostgreSQL connection idle in the pool this long is pinged before it is handed out
# (one that fails is replaced); a busy one is not, since a ping is a round trip per
# transaction. A connection the server dropped meanwhile fails its first statement as a
# disconnect: that invalidates the whole pool, and the unit of work fails as a retryable
# error (a webhook answers 500, so Stripe delivers it again).
PING_AFTER_IDLE_S = 5.0
_RETURNED_AT = "job_to_paid_returned_at"

# The execution option that marks an engine's connections as readers (see `read_only_engine`).
READ_ONLY = "job_to_paid_read_only"
# Connection.info key: the PRAGMA query_only value last set on that SQLite connection.
_QUERY_ONLY = "job_to_paid_query_only"


def make_engine(
    database_url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **options: Any
) -> Engine:
    """The engine for `database_url`; on SQLite, `busy_timeout_ms` is how long a statement
    waits for a lock (BEGIN IMMEDIATE for the write lock) before "database is locked"."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        options.setdefault("pool_size", POOL_SIZE)
        options.setdefault("max_overflow", POOL_OVERFLOW)
        engine = create_engine(url, **options)
        if not options.get("pool_pre_ping"):
            _ping_when_idle(engine)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("pool_size", POOL_SIZE)
        options.setdefault("max_overflow", POOL_OVERFLOW)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so the BEGIN below holds.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        connection_record.info[_QUERY_ONLY] = False

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock at the start: two writers that both read first would
        # otherwise deadlock on the upgrade, and one would fail with SQLITE_BUSY_SNAPSHOT,
        # which no busy timeout cures. Readers take a snapshot only (WAL: no lock that
        # blocks a writer), and query_only makes any write through them fail loudly.
        read_only = bool(connection.get_execution_options().get(READ_ONLY, False))
        if connection.info.get(_QUERY_ONLY) is not read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            connection.info[_QUERY_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        returned = connection_record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("connection lost while idle in the pool") from error


def read_only_engine(engine: Engine) -> Engine:
    """`engine` for reads only: the same pool and events, with the option the "begin"
    listener reads (SQLite), or READ ONLY transactions (PostgreSQL: psycopg adds it to the
    BEGIN it sends anyway, so it costs no round trip)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work that write (or read, then write)."""
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work that only read; a write through one raises (SQLite:
    "attempt to write a readonly database"; PostgreSQL: "read-only transaction")."""
    return sessionmaker(read_only_engine(engine), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was inserted.

    The unique constraint, not a prior SELECT, decides who wins a race. RETURNING tells
    whether a row went in (the drivers' rowcount is not reliable for this statement).
    """
    table = getattr(table, "__table__", table)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    else:
        raise NotImplementedError(f"no ON CONFLICT support for {dialect}")
    key = table.primary_key.columns.values()[0]
    statement = statement.values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).first() is not None
