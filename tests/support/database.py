"""Test databases: a migrated SQLite file per test, and PostgreSQL when TEST_DATABASE_URL is set.

Both are migrated with the project's Alembic migrations, not `create_all`, so the tests
also prove the migrations. PostgreSQL is migrated once per session and emptied between
tests; SQLite is migrated once into a template file that each test copies.

TEST_DATABASE_URL names a server and a prefix: each session, or under pytest-xdist each
worker, gets a database of its own there ("test_main", or "test_gw0", "test_gw1", ...),
created afresh. It holds an advisory lock on the name while it uses it, so another test
run on the same server at the same time takes other names instead of dropping this one's.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.db.migrate import upgrade
from core.db.models import Base
from core.db.session import make_engine

POSTGRES_ENV = "TEST_DATABASE_URL"


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, its connections told not to wait for the disk at each commit:
    a test database need not survive a crash of its server, and every test commits often."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    parsed = make_url(url)
    if "options" in parsed.query:
        return url
    fast = parsed.update_query_dict({"options": "-c synchronous_commit=off"})
    return fast.render_as_string(hide_password=False)


def sqlite_template(directory: Path) -> Path:
    template = directory / "template.db"
    upgrade(f"sqlite:///{template}")
    return template


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / "test.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def empty_postgres(url: str) -> None:
    """Every table emptied and every sequence restarted, as `TRUNCATE ... RESTART IDENTITY`
    does, in about a tenth of the time TRUNCATE takes on tables this small."""
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        sequences = connection.scalars(
            text(
                "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name)"
                " FROM information_schema.sequences WHERE sequence_schema = current_schema()"
            )
        )
        for sequence in list(sequences):
            connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
    engine.dispose()


@contextmanager
def own_postgres(url: str, owner: str) -> Iterator[str]:
    """A new, empty database on `url`'s server for `owner` (a session or xdist worker) while
    the context lasts; yields its URL.

    It is named after `url`'s database and the owner ("test" and "gw0" give "test_gw0", or
    "test_gw0_1" ... while another run holds that one), and left behind at the end: the next
    run that takes the name drops and recreates it.
    """
    base = make_url(url)
    server = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with server.connect() as connection:
            for attempt in itertools.count():
                name = f"{base.database}_{owner}" + (f"_{attempt}" if attempt else "")
                taken = connection.scalar(
                    text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": name}
                )
                if taken:
                    break
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            # The lock lasts as long as this connection: for the whole session.
            yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        server.dispose()


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A migrated database of its own on `url`'s server while the context lasts (for
    fixtures that outlive one test, which the per-test emptying must not reach)."""
    base = make_url(url)
    name = f"{base.database}_scratch_{uuid.uuid4().hex[:12]}"
    server = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = base.set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(scratch)
            yield scratch
        finally:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()
