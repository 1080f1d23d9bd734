"""Readers and writers: a read transaction never holds up a write, writers still take the
write lock at BEGIN (so two that read first do not deadlock), and a write through a reader
fails at once.

The lock checks are made deterministic with a writer engine whose busy timeout is 200 ms:
if a reader held the write lock, that writer would fail with "database is locked" instead
of waiting out the 10 s default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core.billing.stripe_gateway import API_VERSION, StripeGateway
from core.billing.stripe_objects import EventInfo
from core.billing.webhooks import process_event
from core.context import AppContext
from core.db.models import Customer, Job, Payment, StripeEvent
from core.db.session import (
    READ_ONLY,
    make_engine,
    make_read_session_factory,
    make_session_factory,
    session_scope,
)
from tests.support.factories import Market, job_for

SECRET = "whsec_read_transactions"
SHORT_BUSY_TIMEOUT_MS = 200


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@pytest.fixture
def impatient(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Writing sessions on an engine of their own that waits at most 200 ms for a lock."""
    engine = make_engine(database_url, busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)
    yield make_session_factory(engine)
    engine.dispose()


def completed_job(ctx: AppContext, market: Market, price: int = 15000) -> tuple[int, int]:
    """A completed job billed `price`, its payment pending; returns (job id, payment id)."""
    job_id = job_for(ctx, market, price=price)
    with session_scope(ctx.sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="completed"))
        session.execute(update(Payment).where(Payment.job_id == job_id).values(amount=price))
        payment_id = session.scalar(select(Payment.id).where(Payment.job_id == job_id))
    assert payment_id is not None
    return job_id, payment_id


def signed_paid_event(event_id: str, job_id: int, payment_id: int, amount: int) -> EventInfo:
    """An `invoice.paid` event for the job, signed and verified as the endpoint does."""
    now = int(time.time())
    invoice = {
        "id": f"in_{event_id}",
        "object": "invoice",
        "status": "paid",
        "customer": "cus_read_transactions",
        "currency": "usd",
        "amount_due": amount,
        "amount_paid": amount,
        "amount_remaining": 0,
        "created": now - 60,
        "metadata": {"job_id": str(job_id), "payment_id": str(payment_id)},
        "status_transitions": {"paid_at": now},
    }
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "invoice.paid",
            "created": now,
            "api_version": API_VERSION,
            "data": {"object": invoice},
        }
    )
    digest = hmac.new(SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    return StripeGateway.verify_event(body.encode(), f"t={now},v1={digest}", SECRET)


def recorded_outcome(ctx: AppContext, event_id: str) -> str | None:
    """The outcome on the event's row once it was handled (None before that)."""
    with session_scope(ctx.readers) as session:
        row = session.scalar(select(StripeEvent).where(StripeEvent.event_id == event_id))
        return row.outcome if row is not None and row.handled_at is not None else None


@contextmanager
def recorded_begins(engine: Engine) -> Iterator[list[bool]]:
    """Every transaction begun on `engine` (or an engine made from it) while the block runs:
    True for a reader's, False for a writer's."""
    begins: list[bool] = []

    def record(connection: Any) -> None:
        begins.append(bool(connection.get_execution_options().get(READ_ONLY, False)))

    event.listen(engine, "begin", record)
    try:
        yield begins
    finally:
        event.remove(engine, "begin", record)


# A reader does not hold up a writer


def test_a_webhook_commits_while_a_reader_holds_a_read_transaction_open(
    ctx: AppContext, market: Market, impatient: sessionmaker[Session]
) -> None:
    job_id, payment_id = completed_job(ctx, market)
    reader = ctx.readers()
    try:
        # The dashboard's query, left open mid-transaction.
        assert reader.scalar(select(func.count()).select_from(Job)) == 1
        assert reader.in_transaction()

        processed = process_event(impatient, signed_paid_event("evt_r1", job_id, payment_id, 15000))

        assert reader.in_transaction()
    finally:
        reader.close()
    # Taken, not refused for a lock (that raises WebhookProcessingFailed): its row committed.
    assert recorded_outcome(ctx, "evt_r1") == processed.outcome != "failed"


def test_a_plain_insert_commits_while_a_reader_holds_a_read_transaction_open(
    ctx: AppContext, impatient: sessionmaker[Session]
) -> None:
    with session_scope(ctx.readers) as reader:
        assert reader.scalar(select(func.count()).select_from(Customer)) == 0
        with session_scope(impatient) as writer:
            writer.add(Customer(name="Bo", email="bo@example.com"))
        # On SQLite the reader keeps its snapshot; PostgreSQL reads committed rows.
        seen = reader.scalar(select(func.count()).select_from(Customer))
        assert seen == (0 if is_sqlite(ctx.settings.database_url) else 1)
    with session_scope(ctx.readers) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_sqlite_writers_still_take_the_write_lock_at_begin(
    ctx: AppContext, impatient: sessionmaker[Session]
) -> None:
    if not is_sqlite(ctx.settings.database_url):
        pytest.skip("PostgreSQL has no database-wide write lock")
    with session_scope(ctx.sessions) as writer:
        writer.scalar(select(func.count()).select_from(Customer))  # only reads, holds the lock
        with pytest.raises(DBAPIError, match="database is locked"), session_scope(impatient) as s:
            s.scalar(select(func.count()).select_from(Customer))
        with session_scope(ctx.readers) as reader:  # a reader does not wait for it
            assert reader.scalar(select(func.count()).select_from(Customer)) == 0


# Two writers that read first


def test_two_writers_that_read_first_both_commit(ctx: AppContext) -> None:
    """A reads; B begins (on SQLite it waits for A's lock); A writes and commits; B reads,
    writes and commits. Were writers deferred, B would read A's old snapshot, A would commit
    under it, and B's write would fail with SQLITE_BUSY_SNAPSHOT ("database is locked")."""
    b_begins = threading.Event()
    a_committed = threading.Event()
    b_thread: list[threading.Thread] = []

    def before_statement(connection: Any, *args: Any) -> None:
        # B's first statement (on SQLite its BEGIN IMMEDIATE, which waits for A's lock).
        if threading.current_thread() in b_thread:
            b_begins.set()

    def after_select(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        # B has read: hold its write back until A has committed (already so on SQLite,
        # where B could only begin after A's commit).
        if threading.current_thread() in b_thread and statement.startswith("SELECT"):
            assert a_committed.wait(30)

    event.listen(ctx.engine, "before_cursor_execute", before_statement)
    event.listen(ctx.engine, "after_cursor_execute", after_select)
    errors: list[BaseException] = []

    def writer_b() -> None:
        try:
            with session_scope(ctx.sessions) as session:
                count = session.scalar(select(func.count()).select_from(Customer)) or 0
                session.add(Customer(name=f"B after {count}", email="b@example.com"))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    try:
        with session_scope(ctx.sessions) as session:
            count = session.scalar(select(func.count()).select_from(Customer)) or 0
            thread = threading.Thread(target=writer_b)
            b_thread.append(thread)
            thread.start()
            assert b_begins.wait(30)
            session.add(Customer(name=f"A after {count}", email="a@example.com"))
        a_committed.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        a_committed.set()
        event.remove(ctx.engine, "before_cursor_execute", before_statement)
        event.remove(ctx.engine, "after_cursor_execute", after_select)

    assert errors == []
    with session_scope(ctx.readers) as session:
        names = sorted(session.scalars(select(Customer.name)))
    if is_sqlite(ctx.settings.database_url):
        assert names == ["A after 0", "B after 1"]  # B could read only after A's commit
    else:
        assert [name[:7] for name in names] == ["A after", "B after"]


def test_two_webhooks_for_two_jobs_at_once_both_apply(ctx: AppContext, market: Market) -> None:
    first = completed_job(ctx, market)
    second = completed_job(ctx, market)
    events = [
        signed_paid_event("evt_c1", *first, 15000),
        signed_paid_event("evt_c2", *second, 15000),
    ]
    barrier = threading.Barrier(len(events))
    outcomes: list[str] = []

    def deliver(info: EventInfo) -> None:
        barrier.wait(30)
        outcomes.append(process_event(ctx.sessions, info).outcome)

    threads = [threading.Thread(target=deliver, args=(info,)) for info in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(outcomes) == 2 and "failed" not in outcomes
    assert sorted(filter(None, (recorded_outcome(ctx, e.id) for e in events))) == sorted(outcomes)


# A reader refuses to write


def test_a_write_through_a_reader_fails_at_once(ctx: AppContext) -> None:
    with pytest.raises(DBAPIError, match="readonly database|read-only transaction"):
        with session_scope(ctx.readers) as session:
            session.add(Customer(name="Never", email="never@example.com"))
            session.flush()
    with session_scope(ctx.readers) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_one_pooled_connection_serves_readers_and_writers_in_turn(database_url: str) -> None:
    """The read-only mode is set per transaction, never left behind on a pooled connection."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    writers, readers = make_session_factory(engine), make_read_session_factory(engine)
    try:
        for round_ in range(2):
            with session_scope(writers) as session:
                session.add(Customer(name=f"Writer {round_}", email="w@example.com"))
            with pytest.raises(DBAPIError), session_scope(readers) as session:
                session.execute(text("DELETE FROM customers"))
            with session_scope(readers) as session:
                assert session.scalar(select(func.count()).select_from(Customer)) == round_ + 1
    finally:
        engine.dispose()


# What each kind of transaction begins with


def test_readers_begin_deferred_and_writers_immediate_on_sqlite(ctx: AppContext) -> None:
    if not is_sqlite(ctx.settings.database_url):
        pytest.skip("SQLite's BEGIN; PostgreSQL's is the driver's (next test)")
    statements: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        for factory in (ctx.readers, ctx.sessions, ctx.readers):
            with session_scope(factory) as session:
                session.execute(text("SELECT 1"))
    finally:
        event.remove(ctx.engine, "before_cursor_execute", record)
    assert statements == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN"]


def test_readers_run_read_only_transactions_on_postgresql(ctx: AppContext) -> None:
    if is_sqlite(ctx.settings.database_url):
        pytest.skip("PostgreSQL only")
    seen = []
    for factory in (ctx.readers, ctx.sessions, ctx.readers):
        with session_scope(factory) as session:
            seen.append(session.scalar(text("SHOW transaction_read_only")))
    assert seen == ["on", "off", "on"]


def test_the_reader_factory_shares_the_engines_pool_and_marks_its_connections(
    ctx: AppContext,
) -> None:
    reader_engine = ctx.readers.kw["bind"]
    assert reader_engine.pool is ctx.engine.pool
    with recorded_begins(ctx.engine) as begins:
        with session_scope(ctx.readers) as session:
            session.execute(text("SELECT 1"))
        with session_scope(ctx.sessions) as session:
            session.execute(text("SELECT 1"))
        with session_scope(ctx.reading().sessions) as session:
            session.execute(text("SELECT 1"))
    assert begins == [True, False, True]


def test_make_engine_takes_a_busy_timeout(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'timeout.db'}", busy_timeout_ms=250)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 250
    finally:
        engine.dispose()
