"""Fixtures for the dashboard's AppTest tests.

The dashboard reads its configuration from the environment (`core.config.Settings()`), so
`dashboard` points DATABASE_URL at the test's database and the Stripe settings at the
test's sandbox, and clears Streamlit's caches around each test: cached reads and the cached
AppContext would otherwise leak from one test's database into the next. The database is
SQLite (see `database_url`).

Helpers that drive the app (sign in, read the navigation, read a table) live here too, so
the test modules say only what they check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import dashboard as dashboard_package
from core.context import AppContext
from core.db.models import Account, Base, Customer, Job, Service, ServiceProvider, utcnow
from core.db.session import make_engine, make_session_factory, session_scope
from core.identity.accounts import create_account
from core.seed import DEMO_ACCOUNTS, DEMO_PROVIDER_PASSWORD, PROVIDERS, seed_demo
from dashboard.components.safe_text import WORD_JOINER
from tests.support.database import fresh_sqlite
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl

APP_FILE = Path(dashboard_package.__file__).resolve().parent / "streamlit_app.py"
PAGES_DIR = APP_FILE.parent / "app_pages"
DASHBOARD_STRIPE_KEY = "sk_test_dashboard"
APP_SECRET = "dashboard-test-secret"
SIGN_IN_TITLE = "Job to paid"

MARIA = PROVIDERS[0][1]  # Rivera Plumbing & Heating
DEV = PROVIDERS[1][1]  # BrightSpark Electric
ADMIN_EMAIL, _, _, ADMIN_PASSWORD = DEMO_ACCOUNTS[0]
FINANCE_EMAIL, _, _, FINANCE_PASSWORD = DEMO_ACCOUNTS[1]
PROVIDER_PASSWORD = DEMO_PROVIDER_PASSWORD
SMALL_PASSWORD = "small-provider-pass"


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template_file: Path) -> str:
    """SQLite only, where the root conftest gives PostgreSQL too: the pages run no SQL of
    their own (tests/unit/test_layering.py), so every query they show is core's, and core's
    tests run it on both databases. The browser test drives the whole system."""
    return fresh_sqlite(sqlite_template_file, tmp_path)


def _clear_streamlit_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def dashboard(
    ctx: AppContext, sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppContext]:
    """The environment the dashboard reads: this test's database and sandbox."""
    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.base)
    monkeypatch.setenv("STRIPE_SECRET_KEY", DASHBOARD_STRIPE_KEY)
    monkeypatch.setenv("APP_SECRET_KEY", APP_SECRET)
    monkeypatch.setenv("CURRENCY", "usd")
    monkeypatch.setenv("INVOICE_DAYS_UNTIL_DUE", "7")
    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "fast")
    _clear_streamlit_caches()
    yield ctx
    # Close the dashboard's own engine (the cached AppContext for these settings) so that
    # no pooled connection outlives this test's database.
    from dashboard.components.runtime import context

    context().close()
    _clear_streamlit_caches()


# ---------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Demo:
    """The demo marketplace (core.seed) with the ids tests need."""

    now: datetime
    provider_ids: dict[str, int]  # by e-mail
    account_ids: dict[str, int]  # by e-mail

    def provider_id(self, email: str) -> int:
        return self.provider_ids[email]


@dataclass(frozen=True)
class SeededRows:
    now: datetime
    rows: dict[str, list[dict[str, Any]]]  # by table name


@pytest.fixture(scope="session")
def demo_rows(sqlite_template_file: Path, tmp_path_factory: pytest.TempPathFactory) -> SeededRows:
    """Every row `seed_demo` makes, seeded once per session (it takes half a second or more,
    and the same seed and `now` always give the same rows)."""
    url = fresh_sqlite(sqlite_template_file, tmp_path_factory.mktemp("demo"))
    engine = make_engine(url)
    try:
        now = utcnow()
        with session_scope(make_session_factory(engine)) as session:
            seed_demo(session, now=now)
        with engine.connect() as connection:
            rows = {
                table.name: [dict(row._mapping) for row in connection.execute(select(table))]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()
    return SeededRows(now, rows)


def load_rows(engine: Engine, seeded: SeededRows) -> None:
    """Insert the seeded rows as they are, ids included; on PostgreSQL, move the id
    sequences past them, as seeding there would have."""
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if seeded.rows[table.name]:
                connection.execute(table.insert(), seeded.rows[table.name])
        if connection.dialect.name == "postgresql":
            serial = connection.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND column_default LIKE 'nextval%'"
                )
            ).all()
            for table_name, column in serial:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table_name}', '{column}'),"
                        f" COALESCE(MAX({column}), 0) + 1, false) FROM {table_name}"
                    )
                )


@pytest.fixture
def demo(dashboard: AppContext, demo_rows: SeededRows) -> Demo:
    now = demo_rows.now
    load_rows(dashboard.engine, demo_rows)
    with session_scope(dashboard.sessions) as session:
        providers = {p.email: p.id for p in session.scalars(select(ServiceProvider))}
        accounts = {a.username: a.id for a in session.scalars(select(Account))}
    return Demo(now, providers, accounts)


@dataclass(frozen=True)
class Small:
    """One customer, one provider with a dashboard account, one service, one new job."""

    customer_id: int
    provider_id: int
    service_id: int
    job_id: int
    email: str
    password: str


def small_marketplace(ctx: AppContext, *, price: int = 15000) -> Small:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job = new_job(session, customer, provider, service, price=price)
        create_account(
            session,
            username=provider.email,
            display_name=provider.name,
            role="provider",
            password=SMALL_PASSWORD,
            provider_id=provider.id,
        )
        return Small(customer.id, provider.id, service.id, job.id, provider.email, SMALL_PASSWORD)


@pytest.fixture
def small(dashboard: AppContext) -> Small:
    return small_marketplace(dashboard)


def add_staff(ctx: AppContext) -> None:
    """The demo's admin and finance sign-ins (Alex Admin, Fran Finance) on `ctx`'s database."""
    with session_scope(ctx.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        create_account(
            session,
            username=FINANCE_EMAIL,
            display_name="Fran Finance",
            role="finance",
            password=FINANCE_PASSWORD,
        )


@pytest.fixture
def staff(dashboard: AppContext) -> None:
    add_staff(dashboard)


def add_job(
    session: Session, *, customer_id: int, provider_id: int, service_id: int, price: int = 15000
) -> int:
    customer = session.get(Customer, customer_id)
    provider = session.get(ServiceProvider, provider_id)
    service = session.get(Service, service_id)
    assert customer is not None and provider is not None and service is not None
    return new_job(session, customer, provider, service, price=price).id


def provider_job_ids(session: Session, provider_id: int) -> list[int]:
    """A provider's jobs in the order the table shows them: newest first."""
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.provider_id == provider_id)
            .order_by(Job.created_at.desc(), Job.id.desc())
        )
    )


# ---------------------------------------------------------------------------------------
# Driving the app


def new_app() -> AppTest:
    return AppTest.from_file(str(APP_FILE), default_timeout=60)


def page_app(page_file: str) -> AppTest:
    """One page file run on its own as the main script (no navigation around it)."""
    return AppTest.from_file(str(PAGES_DIR / page_file), default_timeout=60)


def sign_in(at: AppTest, email: str, password: str) -> AppTest:
    """Fill in and submit the sign-in form (running the app first if it has not run)."""
    if not at.text_input:
        at.run()
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    at.form_submit_button[0].click()
    return at.run()


def signed_in(email: str, password: str) -> AppTest:
    at = sign_in(new_app(), email, password)
    assert not at.exception, [e.value for e in at.exception]
    assert SIGN_IN_TITLE not in titles(at), errors(at)
    return at


def open_page(at: AppTest, page_file: str) -> AppTest:
    at.switch_page(f"app_pages/{page_file}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def refused_page(email: str, password: str, page_file: str, title: str) -> AppTest:
    """Signed in as `email`, the page `title` is not in the navigation and cannot be
    switched to; returns the page file run on its own with that sign-in, for the caller to
    check it draws nothing."""
    at = signed_in(email, password)
    assert title not in nav_titles(at), email
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"app_pages/{page_file}")
    alone = page_app(page_file)
    alone.session_state["auth"] = dict(at.session_state["auth"])
    return alone.run()


def nav_titles(at: AppTest) -> list[str]:
    """The pages st.navigation registered on the last run, by title, in order."""
    return [str(info.get("page_name")) for info in at._registered_pages.values()]


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def shown(markdown: object) -> str:
    """What a markdown element shows: its source less the escapes and the invisible word
    joiners that keep text as text."""
    text = re.sub(r"\\(.)", r"\1", str(markdown)).replace(WORD_JOINER, "")
    return text.replace("  \n", "\n")


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [shown(s.value) for s in at.success]


def captions(at: AppTest) -> list[str]:
    return [shown(c.value) for c in at.caption]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def badges(at: AppTest) -> list[str]:
    """The words of the coloured badges (`:colour-badge[words]`) on the page, in order."""
    return [
        shown(found)
        for m in at.markdown
        for found in re.findall(r":[a-z]+-badge\[(.*?)\]", str(m.value))
    ]


def button_keys(at: AppTest) -> list[str | None]:
    return [b.key for b in at.button]


def jobs_table(at: AppTest) -> Any:
    """The jobs table's dataframe (the first with a "Job #" and a "Price" column)."""
    for frame in at.dataframe:
        value = frame.value
        if "Job #" in value.columns and "Price" in value.columns:
            return value
    return None


def shown_job_ids(at: AppTest) -> list[int]:
    frame = jobs_table(at)
    return [] if frame is None else [int(v) for v in frame["Job #"]]


def all_shown_job_ids(at: AppTest) -> list[int]:
    """Every job of the current filter, page by page through "Next", then back to the
    first page."""
    ids = shown_job_ids(at)
    turned = 0
    while [b for b in at.button if b.key == "page_next" and not b.disabled]:
        at.button(key="page_next").click().run()
        assert not at.exception, [e.value for e in at.exception]
        ids += shown_job_ids(at)
        turned += 1
    if turned:
        at.session_state["filter_page"] = 1
        at.run()
    return ids


def open_job(at: AppTest, job_id: int) -> AppTest:
    """Click the job's row in the jobs table (it must be on the page shown)."""
    row = shown_job_ids(at).index(job_id)
    at.session_state["jobs_table"] = {"selection": {"rows": [row]}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_fragments(at: AppTest) -> AppTest:
    """One timer tick of `st.fragment(run_every=...)`: the fragments of the last run run
    again on their own, as the browser's timer asks (AppTest's `run` always runs the whole
    script). The element tree then holds only what the fragments drew, toasts included;
    a fragment that calls `st.rerun()` turns the tick into a full run, as in the browser."""
    from unittest import mock

    import streamlit.testing.v1.app_test as app_test
    import streamlit.testing.v1.local_script_runner as local_runner
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    fragment_ids = list(at._fragment_storage._fragments)
    assert fragment_ids, "the last run drew no fragment"
    pages = dict(at._registered_pages)

    def tick(**fields: Any) -> RerunData:
        return RerunData(**fields, fragment_id_queue=fragment_ids, is_auto_rerun=True)

    class KeptPages(PagesManager):
        """A session keeps its navigation between runs; AppTest makes a new manager for
        each run, which a fragment run (no st.navigation call) would leave empty."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._set_pages(dict(pages))

    with (
        mock.patch.object(local_runner, "RerunData", tick),
        mock.patch.object(app_test, "PagesManager", KeptPages),
    ):
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def toasts(at: AppTest) -> list[str]:
    return [shown(t.value) for t in at.toast]


def page_links(at: AppTest) -> dict[str, tuple[str, str]]:
    """Each page link by its label: (the page it opens, its query string)."""
    return {
        link.proto.label: (link.proto.page, link.proto.query_string) for link in at.get("page_link")
    }


def session_signature(
    account_id: int, role: str, provider_id: int | None, secret: str = APP_SECRET
) -> str:
    """The HMAC the dashboard keeps with the account id, role and provider (for forging
    tests)."""
    message = f"account:{account_id}:{role}:{provider_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------
# Downloads


class _RecordingStorage(MemoryMediaFileStorage):
    """AppTest's in-memory media storage, kept reachable so tests can read the files that
    st.download_button registered."""

    instances: list[_RecordingStorage] = []

    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        _RecordingStorage.instances.append(self)


@dataclass(frozen=True)
class Download:
    data: bytes
    filename: str | None
    mimetype: str


DownloadReader = Callable[[AppTest, str], Download]


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[DownloadReader]:
    """`read(at, key)`: the bytes behind the download button with that key."""
    import streamlit.testing.v1.app_test as app_test

    _RecordingStorage.instances = []
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", _RecordingStorage)

    def read(at: AppTest, key: str) -> Download:
        button = at.download_button(key=key)
        url = str(button.proto.url)
        assert url, f"download button {key} has no file"
        name = url.rsplit("/", 1)[-1]
        for storage in reversed(_RecordingStorage.instances):
            try:
                file = storage.get_file(name)
            except MediaFileStorageError:  # registered in another run's storage
                continue
            return Download(file.content, file.filename, file.mimetype)
        raise AssertionError(f"no stored file for {url}")

    yield read
    _RecordingStorage.instances = []
