"""Test databases: a migrated SQLite file per test, and PostgreSQL when TEST_DATABASE_URL is set.

Both are migrated with the project's Alembic migrations, not `create_all`, so the tests
also prove the migrations. PostgreSQL is migrated once per session and emptied between
tests; SQLite is migrated once into a template file that each test copies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import text

from core.db.migrate import upgrade
from core.db.models import Base
from core.db.session import make_engine

POSTGRES_ENV = "TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def sqlite_template(directory: Path) -> Path:
    template = directory / "template.db"
    upgrade(f"sqlite:///{template}")
    return template


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / "test.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def reset_postgres_schema(url: str) -> None:
    """Drop everything in the public schema, then migrate from scratch."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def empty_postgres(url: str) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
