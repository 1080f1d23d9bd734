"""The demo seed on SQLite and PostgreSQL: a year of believable, self-consistent data, and
its owed jobs really invoiced in a sandbox, so that a fresh install reconciles cleanly and
the overdue filter, the aging and our invoice copies agree, now and as the clock moves.

Each database kind is seeded once per module and the rows are read into memory for the
checks; tests that seed differently use their own database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.billing.invoice_status import is_overdue
from core.billing.reconcile import drift_report
from core.config import Settings
from core.context import AppContext
from core.db import clock
from core.db.clock import CLOCK_FILE_VARIABLE
from core.db.models import (
    JOB_STATUSES,
    Base,
    Customer,
    Job,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeInvoice,
    utcnow,
)
from core.db.session import make_engine, make_session_factory, session_scope
from core.identity.actor import SYSTEM
from core.jobs.queries import JobFilter, list_jobs
from core.money import format_cents
from core.reporting.aging import NOT_INVOICED, NOT_YET_DUE, aging_details
from core.reporting.earnings import ledger_mismatches, received_by_provider
from core.seed import SandboxClock, SeedSummary, has_data, invoice_demo, seed_demo
from tests.support.database import empty_postgres, fresh_sqlite
from tests.support.sandbox import SandboxControl, running_sandbox

# One worker seeds each database kind once for the whole module (see `seeded`).
pytestmark = pytest.mark.xdist_group("seeded_demo")

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
Rows = dict[str, list[tuple[Any, ...]]]


def snapshot(session: Session) -> Rows:
    """Every row of every domain table, in id order."""
    rows: Rows = {}
    for model in (ServiceProvider, Customer, Service, Job, Payment, Notification):
        table = Base.metadata.tables[model.__tablename__]
        rows[table.name] = [
            tuple(row) for row in session.execute(select(table).order_by(table.c.id))
        ]
    return rows


def wipe(database_url: str, engine: Engine) -> None:
    """Empty every table so that ids start at 1 again, on either database."""
    if make_url(database_url).get_backend_name() == "postgresql":
        empty_postgres(database_url)
        return
    with engine.begin() as connection:  # SQLite reuses ids from max(id) + 1
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@dataclass
class Seeded:
    """One seeded database, read back: its rows, and what core computed from them."""

    summary: SeedSummary
    providers: list[ServiceProvider]
    customers: list[Customer]
    services: list[Service]
    jobs: list[Job]
    payments: list[Payment]
    notifications: list[Notification]
    mismatches: list[str]
    received: dict[int, tuple[int, int]]
    rows: Rows
    rows_again: Rows  # after emptying the database and seeding it again
    summary_again: SeedSummary


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template_file: Path,
    postgres_migrated: str | None,
) -> Iterator[Seeded]:
    if request.param == "sqlite":
        url = fresh_sqlite(sqlite_template_file, tmp_path_factory.mktemp("seed"))
    else:
        if postgres_migrated is None:
            pytest.skip("TEST_DATABASE_URL is not set")
        url = postgres_migrated
        empty_postgres(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            assert not has_data(session)
            summary = seed_demo(session, now=NOW)
        with session_scope(sessions) as session:
            assert has_data(session)
            data = Seeded(
                summary=summary,
                providers=list(session.scalars(select(ServiceProvider))),
                customers=list(session.scalars(select(Customer))),
                services=list(session.scalars(select(Service))),
                jobs=list(session.scalars(select(Job))),
                payments=list(session.scalars(select(Payment))),
                notifications=list(session.scalars(select(Notification))),
                mismatches=ledger_mismatches(session),
                received=received_by_provider(session),
                rows=snapshot(session),
                rows_again={},
                summary_again=summary,
            )
        wipe(url, engine)
        with session_scope(sessions) as session:
            assert not has_data(session)
            data.summary_again = seed_demo(session, now=NOW)
        with session_scope(sessions) as session:
            data.rows_again = snapshot(session)
        yield data
    finally:
        engine.dispose()
        if request.param == "postgresql":
            empty_postgres(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


# The seeded marketplace


def test_summary_counts_match_the_rows(seeded: Seeded) -> None:
    statuses = Counter(job.status for job in seeded.jobs)
    assert seeded.summary.providers == len(seeded.providers)
    assert seeded.summary.customers == len(seeded.customers)
    assert seeded.summary.services == len(seeded.services)
    assert seeded.summary.jobs == len(seeded.jobs) == 200
    assert seeded.summary.by_status == dict(statuses)


def test_a_marketplace_of_realistic_size(seeded: Seeded) -> None:
    assert len(seeded.providers) >= 5
    assert len(seeded.customers) >= 20
    assert len(seeded.services) >= 8
    assert len({service.category for service in seeded.services}) >= 3
    assert all(service.base_price > 0 for service in seeded.services)
    assert len({customer.email for customer in seeded.customers}) == len(seeded.customers)
    assert len({provider.email for provider in seeded.providers}) == len(seeded.providers)
    # Work is spread around: every provider and most customers have jobs.
    assert {job.provider_id for job in seeded.jobs} == {p.id for p in seeded.providers}
    assert len({job.customer_id for job in seeded.jobs}) >= len(seeded.customers) * 3 // 4
    assert len({job.service_id for job in seeded.jobs}) >= 8


def test_jobs_are_spread_over_the_last_twelve_months(seeded: Seeded) -> None:
    created = [job.created_at for job in seeded.jobs]
    earliest, latest = min(created), max(created)
    assert NOW - timedelta(days=366) <= earliest < NOW - timedelta(days=330)
    assert NOW - timedelta(days=30) < latest <= NOW
    assert all(moment.tzinfo is not None for moment in created)
    assert len({(moment.year, moment.month) for moment in created}) >= 12


def test_every_status_appears(seeded: Seeded) -> None:
    statuses = Counter(job.status for job in seeded.jobs)
    assert set(statuses) == set(JOB_STATUSES)
    assert statuses["paid"] > statuses["completed"]  # a year on, most work is settled
    # Open work is recent: new jobs are from the last days, not months ago.
    assert all(
        NOW - job.created_at < timedelta(days=10) for job in seeded.jobs if job.status == "new"
    )


def test_payments_agree_with_their_jobs(seeded: Seeded) -> None:
    payments = {payment.job_id: payment for payment in seeded.payments}
    assert len(seeded.payments) == len(payments) == len(seeded.jobs)  # one payment per job
    for job in seeded.jobs:
        payment = payments[job.id]
        assert job.price > 0
        assert payment.created_at == job.created_at
        if job.status in ("new", "cancelled"):
            assert (payment.status, payment.amount) == ("pending", 0), job.id
            assert payment.method is None and payment.marked_at is None
            assert job.completed_at is None and job.paid_at is None
        elif job.status == "completed":
            assert (payment.status, payment.amount) == ("pending", job.price), job.id
            assert payment.method is None and payment.marked_at is None
            assert job.completed_at is not None and job.paid_at is None
            assert job.created_at <= job.completed_at <= NOW
        else:
            assert job.status == "paid"
            assert (payment.status, payment.amount) == ("received", job.price), job.id
            assert payment.method == "manual"  # history from before online invoicing
            assert job.completed_at is not None and job.paid_at is not None
            assert payment.marked_at == job.paid_at
            assert job.created_at <= job.completed_at <= job.paid_at <= NOW


def test_earnings_equal_received_payments(seeded: Seeded) -> None:
    assert seeded.mismatches == []
    paid_count: Counter[int] = Counter()
    paid_sum: Counter[int] = Counter()
    for job in seeded.jobs:
        if job.status == "paid":
            paid_count[job.provider_id] += 1
            paid_sum[job.provider_id] += job.price
    for provider in seeded.providers:
        assert provider.total_jobs == paid_count[provider.id]
        assert provider.earnings == paid_sum[provider.id]
        assert seeded.received.get(provider.id, (0, 0)) == (
            provider.earnings,
            provider.total_jobs,
        )
    assert sum(provider.earnings for provider in seeded.providers) > 0


def test_every_paid_job_has_one_notification_for_each_side(seeded: Seeded) -> None:
    jobs = {job.id: job for job in seeded.jobs}
    payment_notes: dict[int, list[Notification]] = {}
    for note in seeded.notifications:
        assert note.job_id in jobs
        if note.kind in ("payment_confirmed", "payment_received"):
            payment_notes.setdefault(note.job_id, []).append(note)
    paid = {job_id for job_id, job in jobs.items() if job.status == "paid"}
    assert set(payment_notes) == paid  # and no payment notice for an unpaid job
    for job_id in paid:
        job = jobs[job_id]
        recipients = sorted(
            (note.recipient_kind, note.recipient_id, note.kind) for note in payment_notes[job_id]
        )
        assert recipients == [
            ("customer", job.customer_id, "payment_confirmed"),
            ("provider", job.provider_id, "payment_received"),
        ]
        for note in payment_notes[job_id]:
            assert note.created_at == job.paid_at
            assert format_cents(job.price) in note.body


def test_the_rows_alone_claim_no_invoice(seeded: Seeded) -> None:
    """Only a real invoice (`invoice_demo`) tells a customer an invoice is waiting."""
    assert [note for note in seeded.notifications if note.kind == "invoice_sent"] == []


def test_owed_jobs_are_recent_but_for_a_few(seeded: Seeded) -> None:
    owed = [job for job in seeded.jobs if job.status == "completed"]
    assert 5 <= len(owed) <= 30
    recent = [job for job in owed if job.completed_at and NOW - job.completed_at < timedelta(21)]
    assert len(recent) >= len(owed) - 3
    assert all(job.completed_at and NOW - job.completed_at < timedelta(days=92) for job in owed)


def test_old_notifications_are_read_and_recent_ones_are_not(seeded: Seeded) -> None:
    for note in seeded.notifications:
        if NOW - note.created_at > timedelta(days=14):
            assert note.read_at is not None and note.read_at > note.created_at
        else:
            assert note.read_at is None


def test_the_same_seed_and_now_give_the_same_rows(seeded: Seeded) -> None:
    assert seeded.summary_again == seeded.summary
    assert seeded.rows_again.keys() == seeded.rows.keys()
    for table, rows in seeded.rows.items():
        assert seeded.rows_again[table] == rows, table
    assert len(seeded.rows["notifications"]) > 200


# Seeding with other arguments


def test_has_data_is_false_before_and_true_after(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        assert has_data(session) is False
        seed_demo(session, jobs=3, customers=2, now=NOW)
    with session_scope(sessions) as session:
        assert has_data(session) is True


def test_another_seed_gives_other_jobs(
    database_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with session_scope(sessions) as session:
        seed_demo(session, jobs=30, now=NOW)
    with session_scope(sessions) as session:
        first = snapshot(session)["jobs"]
    wipe(database_url, engine)
    with session_scope(sessions) as session:
        seed_demo(session, jobs=30, now=NOW, seed=7)
    with session_scope(sessions) as session:
        second = snapshot(session)["jobs"]
        assert ledger_mismatches(session) == []
    assert len(first) == len(second) == 30
    assert first != second


def test_job_and_customer_counts_are_parameters(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        summary = seed_demo(session, jobs=25, customers=5, now=NOW)
    with session_scope(sessions) as session:
        assert (summary.jobs, summary.customers) == (25, 5)
        assert len(session.scalars(select(Job.id)).all()) == 25
        assert len(session.scalars(select(Payment.id)).all()) == 25
        assert len(session.scalars(select(Customer.id)).all()) == 5
        assert ledger_mismatches(session) == []


# The demo's invoices, in a sandbox of their own whose clock this process keeps


@pytest.fixture
def demo(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AppContext, SandboxControl]]:
    """A seeded demo invoiced by `invoice_demo`, as `make run` loads it: the sandbox
    publishes its clock to a file, and this process keeps that clock (DEMO_CLOCK_FILE)."""
    clock_file = tmp_path / "clock.json"
    with running_sandbox("--clock-file", str(clock_file)) as base:
        monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(clock_file))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            stripe_secret_key=SecretStr("sk_test_demo"),
            stripe_api_base=base,
        )
        ctx = AppContext.create(settings)
        sandbox = SandboxControl(base)
        demo_clock = SandboxClock(base)
        try:
            with session_scope(ctx.sessions) as session:
                seed_demo(session)
            invoice_demo(ctx, demo_clock)
            yield ctx, sandbox
        finally:
            demo_clock.close()
            sandbox.http.close()
            ctx.close()
            monkeypatch.delenv(CLOCK_FILE_VARIABLE)
            clock.forget()


def overdue_everywhere(ctx: AppContext) -> tuple[set[int], set[int], set[int]]:
    """Overdue jobs as the admin's filter, the aging and our invoice copies see them, now."""
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        listed = list_jobs(
            session, actor=SYSTEM, filters=JobFilter(overdue_only=True), page_size=200, now=now
        )
        aged = aging_details(session, actor=SYSTEM, now=now)
        copies = session.scalars(select(StripeInvoice).where(StripeInvoice.is_current))
        by_copy = {c.job_id for c in copies if is_overdue(c.status, c.due_date, now)}
    late = {row.job_id for row in aged if row.bucket not in (NOT_INVOICED, NOT_YET_DUE)}
    return {row.job_id for row in listed.rows}, late, {job for job in by_copy if job}


def test_every_owed_job_is_invoiced_on_the_day_it_was_done(
    demo: tuple[AppContext, SandboxControl],
) -> None:
    ctx, sandbox = demo
    with session_scope(ctx.sessions) as session:
        owed = {
            job.id: job for job in session.scalars(select(Job).where(Job.status == "completed"))
        }
        waiting = list(
            session.scalars(select(Notification).where(Notification.kind == "invoice_sent"))
        )
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    invoices = {int(i.to_dict()["metadata"]["job_id"]): i for i in listing.auto_paging_iter()}
    assert set(invoices) == set(owed) and owed
    for job_id, invoice in invoices.items():
        job = owed[job_id]
        assert job.completed_at is not None
        assert invoice.status == "open" and invoice.amount_due == job.price
        assert abs(invoice.created - job.completed_at.timestamp()) < 5
        finalized_at = invoice.status_transitions.finalized_at
        assert finalized_at is not None and invoice.due_date == finalized_at + 7 * 86400
        assert ("Job", f"#{job_id}") in [(f.name, f.value) for f in invoice.custom_fields or []]
    # The customers were told through the webhook handlers, with the real due date and link.
    assert Counter(note.job_id for note in waiting) == Counter(set(owed))
    for note in waiting:
        invoice = invoices[note.job_id or 0]
        assert invoice.hosted_invoice_url and invoice.hosted_invoice_url in note.body
    # And the clock is back at the present.
    assert sandbox.http.get("/_sandbox/clock").json()["offset"] == 0
    assert abs((utcnow() - datetime.now(UTC)).total_seconds()) < 5


def test_a_fresh_demo_reconciles_and_agrees_on_what_is_overdue(
    demo: tuple[AppContext, SandboxControl],
) -> None:
    ctx, sandbox = demo
    assert drift_report(ctx, actor=SYSTEM).drifts == []
    listed, aged, copies = overdue_everywhere(ctx)
    assert listed == aged == copies
    assert 3 <= len(listed) <= 10  # a few
    with session_scope(ctx.sessions) as session:
        owed = set(session.scalars(select(Job.id).where(Job.status == "completed")))
    assert listed < owed  # and some are not due yet

    # A week later on the demo's clock, more are overdue, and everything still agrees.
    sandbox.advance_clock(7 * 86400)
    assert (utcnow() - datetime.now(UTC)).total_seconds() > 7 * 86400 - 5
    later_listed, later_aged, later_copies = overdue_everywhere(ctx)
    assert later_listed == later_aged == later_copies
    assert listed < later_listed
    assert drift_report(ctx, actor=SYSTEM).drifts == []
