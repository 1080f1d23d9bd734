"""Browsing the dashboard only reads: every transaction a page opens is a reader's, which
on SQLite takes no write lock, so an admin looking at jobs never holds up a webhook."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlalchemy import event, select
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import Job
from core.db.session import READ_ONLY, session_scope
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MARIA,
    PROVIDER_PASSWORD,
    Demo,
    open_page,
    shown_job_ids,
    signed_in,
)


@contextmanager
def dashboard_begins() -> Iterator[list[bool]]:
    """Each transaction the dashboard's own engine begins while the block runs (True for a
    reader's), with the cached reads forgotten first so that they reach the database."""
    from dashboard.components.runtime import context

    engine = context().engine
    begins: list[bool] = []

    def record(connection: Any) -> None:
        begins.append(bool(connection.get_execution_options().get(READ_ONLY, False)))

    st.cache_data.clear()
    event.listen(engine, "begin", record)
    try:
        yield begins
    finally:
        event.remove(engine, "begin", record)


def rerun_reads_only(at: AppTest) -> None:
    with dashboard_begins() as begins:
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert begins and all(begins), begins


def test_a_providers_pages_only_read(demo: Demo, dashboard: AppContext) -> None:
    with session_scope(dashboard.sessions) as session:
        job_id = session.scalar(
            select(Job.id)  # the newest: on the table's first page
            .where(Job.provider_id == demo.provider_id(MARIA))
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(1)
        )
    at = signed_in(MARIA, PROVIDER_PASSWORD)  # signing in writes; what follows only reads
    with dashboard_begins() as begins:
        open_page(at, "my_jobs.py")
    assert begins and all(begins), ("my_jobs.py", begins)

    rerun_reads_only(at)  # My jobs: the table
    assert job_id is not None
    row = shown_job_ids(at).index(job_id)
    at.session_state["jobs_table"] = {"selection": {"rows": [row]}}  # its row clicked
    rerun_reads_only(at)  # the job's detail and timeline
    for page in ("earnings.py", "notifications.py", "provider_home.py"):
        with dashboard_begins() as begins:
            open_page(at, page)
        assert begins and all(begins), (page, begins)


def test_an_admins_pages_only_read(demo: Demo, dashboard: AppContext) -> None:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)

    for page in (
        "all_jobs.py",
        "webhook_activity.py",
        "reports.py",
        "reconciliation.py",
        "overview.py",
    ):
        with dashboard_begins() as begins:
            open_page(at, page)
        assert begins and all(begins), (page, begins)
