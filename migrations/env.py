"""Alembic environment: migrates the database named by the settings (or `-x url=...`)."""

from __future__ import annotations

from alembic import context

from core.config import get_settings
from core.db.models import Base
from core.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    given = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "url"
    )
    return str(given or get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(database_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
