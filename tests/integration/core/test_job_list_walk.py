"""SQLite's newest-first walk (core.jobs.queries._walk_newest_first) lists the very page
the ordinary plan lists, for the filters it is taken for: an invoice status most jobs show
("paid"), a customer name most jobs match, and both; and it is taken only where it pays.

The walk is chosen for more than 500 matching jobs, so the test loads 3,000 generated
jobs (bench.generate, the read-path benchmarks' marketplace) into SQLite once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

import core.jobs.queries as queries
from bench.generate import generate
from core.billing.invoice_status import SHOWN_STATUSES
from core.db.session import make_engine, make_read_session_factory, session_scope
from core.identity.actor import Actor
from core.jobs.queries import JobFilter, list_jobs

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
ADMIN = Actor("admin")
# Each filter, and whether its first page is walked: most jobs match it, or few do.
FILTERS = [
    (JobFilter(invoice_statuses=("paid",)), True),
    (JobFilter(invoice_statuses=("paid", "open")), True),
    (JobFilter(invoice_statuses=("paid",), statuses=("paid",)), True),
    (JobFilter(search="a"), True),  # most customers' names
    (JobFilter(search="a", invoice_statuses=("paid",)), True),
    (JobFilter(invoice_statuses=("open",)), False),
    (JobFilter(invoice_statuses=("overdue", "none")), False),
    (JobFilter(search="zz"), False),
]


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('walk') / 'jobs.db'}"
    generate(url, jobs=3_000, customers_count=500, now=NOW, log=lambda *_, **__: None)
    engine = make_engine(url)
    yield make_read_session_factory(engine)
    engine.dispose()


@pytest.fixture
def walked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What `_walk_newest_first` decided, each time list_jobs asked it."""
    decisions: list[bool] = []
    decide = queries._walk_newest_first

    def recorded(*args: object) -> bool:
        decisions.append(decide(*args))  # type: ignore[arg-type]
        return decisions[-1]

    monkeypatch.setattr(queries, "_walk_newest_first", recorded)
    return decisions


def page_ids(
    readers: sessionmaker[Session], filters: JobFilter, page: int
) -> tuple[int, list[int]]:
    with session_scope(readers) as session:
        listed = list_jobs(session, actor=ADMIN, filters=filters, page=page, now=NOW)
    return listed.total, [row.job_id for row in listed.rows]


@pytest.mark.parametrize(("filters", "walks"), FILTERS, ids=lambda value: repr(value))
def test_the_walk_lists_what_the_ordinary_plan_lists(
    readers: sessionmaker[Session],
    filters: JobFilter,
    walks: bool,
    walked: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total, _ = page_ids(readers, filters, 1)
    pages = sorted({1, 2, max(1, -(-total // 25))})  # the first, the next and the last
    chosen = {page: page_ids(readers, filters, page) for page in pages}
    monkeypatch.setattr(queries, "_walk_newest_first", lambda *args: False)
    ordinary = {page: page_ids(readers, filters, page) for page in pages}

    assert chosen == ordinary
    assert walked[0] is walks, (total, walked)
    if walks:
        assert [len(chosen[page][1]) for page in (1, 2)] == [25, 25]


def test_the_paid_filter_is_walked_on_its_first_page_and_not_on_its_last(
    readers: sessionmaker[Session], walked: list[bool]
) -> None:
    paid = JobFilter(invoice_statuses=("paid",))
    total, _ = page_ids(readers, paid, 1)
    page_ids(readers, paid, -(-total // 25))
    assert total > 2_000 and walked == [True, False]


@pytest.mark.parametrize("word", SHOWN_STATUSES)
@pytest.mark.parametrize("overdue_only", [False, True])
def test_every_invoice_word_walked_or_not_lists_the_same_jobs(
    readers: sessionmaker[Session], word: str, overdue_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk forced for each word of the vocabulary, however few jobs show it."""
    filters = JobFilter(invoice_statuses=(word,), overdue_only=overdue_only)
    listed: dict[bool, dict[int, tuple[int, list[int]]]] = {}
    for walk in (True, False):
        monkeypatch.setattr(queries, "_walk_newest_first", lambda *args, walk=walk: walk)
        total, _ = page_ids(readers, filters, 1)
        pages = sorted({1, max(1, -(-total // 25))})
        listed[walk] = {page: page_ids(readers, filters, page) for page in pages}
    assert listed[True] == listed[False]
