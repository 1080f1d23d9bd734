"""The dashboard's handle on core: one AppContext per configuration, and session scopes.

The engine and Stripe client live in `st.cache_resource`; reads are cached per signed-in
actor with `st.cache_data` (a short ttl) and cleared after any action that changes data.
Reads go through `read_session()` (or `context().reading()`), which on SQLite takes no
write lock: an admin browsing never holds up the webhooks that record payments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import streamlit as st
from sqlalchemy.orm import Session

from core.config import Settings
from core.context import AppContext
from core.db.session import session_scope
from core.observability import logs

# Short: payments arrive by webhook in another process, which cannot clear this cache.
READ_TTL_SECONDS = 10


def settings() -> Settings:
    """The settings of the current environment. Building them parses the environment
    (about 1 ms), and a page asks several times a run, so they are built once per distinct
    environment: a changed variable still takes effect on the next call."""
    return _settings_for(frozenset(os.environ.items()))


@lru_cache(maxsize=4)
def _settings_for(environment: frozenset[tuple[str, str]]) -> Settings:
    return Settings()


@st.cache_resource(max_entries=4)
def _context(database_url: str, stripe_base: str | None, stripe_key: str) -> AppContext:
    logs.configure()  # core's lines in the dashboard's process, in LOG_FORMAT
    return AppContext.create(settings())


def context() -> AppContext:
    """The AppContext for the current environment (a new one if the settings changed)."""
    current = settings()
    return _context(current.database_url, current.stripe_base, current.stripe_key)


@contextmanager
def db_session() -> Iterator[Session]:
    """A unit of work that writes."""
    with session_scope(context().sessions) as session:
        yield session


@contextmanager
def read_session() -> Iterator[Session]:
    """A unit of work that only reads; a write through it raises."""
    with session_scope(context().readers) as session:
        yield session


def data_changed() -> None:
    """Forget cached reads after an action, so every page shows the new state."""
    st.cache_data.clear()
