"""The home pages' figures (core.reporting.overview), the live feed (core.reporting.live_feed)
and the kept drift checks (core.billing.drift_checks), on rows whose answers are known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from core.audit import SYSTEM_NAME, record
from core.billing.drift_checks import last_check, record_check
from core.billing.reconcile import Drift, DriftReport
from core.context import AppContext
from core.db.models import (
    Customer,
    Job,
    Payment,
    Service,
    ServiceProvider,
    StripeEvent,
    StripeInvoice,
)
from core.db.session import session_scope
from core.errors import Forbidden, NotFound
from core.identity.actor import SYSTEM, Actor
from core.reporting import live_feed, overview
from tests.integration.core.conftest import CliRun
from tests.support.factories import marketplace, new_job

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ADMIN = Actor("admin", 1)
FINANCE = Actor("finance", 2)


@dataclass(frozen=True)
class Shop:
    provider_id: int
    other_provider_id: int
    jobs: dict[str, int]  # by what the test made of them


def job_in(
    session: Session,
    customer: Customer,
    provider: ServiceProvider,
    service: Service,
    price: int,
    *,
    paid_at: datetime | None = None,
    completed: bool = True,
) -> Job:
    job = new_job(session, customer, provider, service, price=price)
    payment = session.query(Payment).filter_by(job_id=job.id).one()
    payment.amount = price
    if completed:
        job.status, job.completed_at = "completed", NOW - timedelta(days=40)
    if paid_at is not None:
        job.status, job.paid_at = "paid", paid_at
        payment.status, payment.marked_at, payment.method = "received", paid_at, "stripe"
    return job


def invoice_of(session: Session, job: Job, *, status: str, due: datetime) -> None:
    session.add(
        StripeInvoice(
            invoice_id=f"in_{job.id}",
            job_id=job.id,
            customer="cus_1",
            status=status,
            status_rank=1,
            currency="usd",
            amount_due=job.price,
            amount_paid=0,
            amount_remaining=job.price,
            created=due - timedelta(days=7),
            due_date=due,
            is_current=True,
        )
    )


def audit_send(session: Session, job_id: int, result: str, at: datetime) -> None:
    entry = record(session, actor=SYSTEM, action="invoice.send", job_id=job_id, result=result)
    entry.created_at = at
    session.flush()


@pytest.fixture
def shop(ctx: AppContext) -> Shop:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        other = ServiceProvider(name="BrightSpark", email="dev@example.com")
        session.add(other)
        session.flush()
        jobs = {
            "paid_this_month": job_in(
                session, customer, provider, service, 10000, paid_at=NOW - timedelta(days=3)
            ),
            "paid_last_month": job_in(
                session,
                customer,
                provider,
                service,
                5000,
                paid_at=datetime(2026, 10, 31, tzinfo=UTC),
            ),
            "paid_long_ago": job_in(
                session, customer, provider, service, 2000, paid_at=datetime(2025, 6, 1, tzinfo=UTC)
            ),
            "overdue": job_in(session, customer, provider, service, 7000),
            "open_not_due": job_in(session, customer, provider, service, 3000),
            "failed": job_in(session, customer, provider, service, 4000),
            "failed_then_sent": job_in(session, customer, provider, service, 6000),
            "new": job_in(session, customer, provider, service, 9000, completed=False),
            "others_overdue": job_in(session, customer, other, service, 8000),
            "others_paid": job_in(
                session, customer, other, service, 1500, paid_at=NOW - timedelta(days=1)
            ),
        }
        session.flush()
        invoice_of(session, jobs["overdue"], status="open", due=NOW - timedelta(days=2))
        invoice_of(session, jobs["open_not_due"], status="open", due=NOW + timedelta(days=2))
        invoice_of(session, jobs["others_overdue"], status="open", due=NOW - timedelta(hours=1))
        audit_send(session, jobs["failed"].id, "failed", NOW - timedelta(hours=2))
        audit_send(session, jobs["failed_then_sent"].id, "failed", NOW - timedelta(hours=3))
        audit_send(session, jobs["failed_then_sent"].id, "ok", NOW - timedelta(hours=1))
        audit_send(session, jobs["paid_this_month"].id, "failed", NOW - timedelta(days=5))
        session.add_all(
            [
                StripeEvent(
                    event_id="evt_ok",
                    type="invoice.paid",
                    created=NOW,
                    received_at=NOW - timedelta(minutes=1),
                    outcome="applied",
                    job_id=jobs["paid_this_month"].id,
                ),
                StripeEvent(
                    event_id="evt_orphan",
                    type="invoice.paid",
                    created=NOW,
                    received_at=NOW - timedelta(minutes=5),
                    outcome="orphan",
                    detail="names no job of ours",
                ),
            ]
        )
        return Shop(provider.id, other.id, {name: job.id for name, job in jobs.items()})


def test_the_overview_counts_each_figure_from_the_rows(ctx: AppContext, shop: Shop) -> None:
    with session_scope(ctx.readers) as session:
        figures = overview.marketplace(session, actor=ADMIN, now=NOW)
    assert figures.this_month == overview.Figure(10000 + 1500, 2)
    assert figures.last_month == overview.Figure(5000, 1)
    assert figures.last_month_so_far == overview.Figure(0, 0)  # paid on the 31st, now the 20th
    # Completed and unpaid: overdue, open_not_due, failed, failed_then_sent, others_overdue.
    assert figures.outstanding == overview.Figure(7000 + 3000 + 4000 + 6000 + 8000, 5)
    assert figures.overdue == overview.Figure(7000 + 8000, 2)
    # The last attempt decides: a failure followed by a send is not failed; a paid job is
    # not waiting for an invoice.
    assert figures.failed_invoicing == overview.Figure(4000, 1)
    assert figures.failed_job_ids == (shop.jobs["failed"],)
    assert len(figures.by_month) == overview.CHART_MONTHS
    assert figures.by_month[0].label == "2025-12-01" and figures.by_month[-1].label == "2026-11-01"
    assert sum(m.amount for m in figures.by_month) == 10000 + 1500 + 5000  # 2025-06 is older
    assert figures.webhooks == overview.WebhookHealth(1)
    assert figures.drift is None  # no check has run


def test_finance_gets_the_money_but_not_the_integrations_health(
    ctx: AppContext, shop: Shop
) -> None:
    with session_scope(ctx.readers) as session:
        admin = overview.marketplace(session, actor=ADMIN, now=NOW)
        finance = overview.marketplace(session, actor=FINANCE, now=NOW)
        assert finance.webhooks is None and finance.drift is None
        assert (finance.this_month, finance.outstanding, finance.overdue) == (
            admin.this_month,
            admin.outstanding,
            admin.overdue,
        )
        with pytest.raises(Forbidden):
            overview.marketplace(session, actor=Actor("provider", shop.provider_id), now=NOW)


def test_a_providers_home_holds_only_their_jobs(ctx: AppContext, shop: Shop) -> None:
    me = Actor("provider", shop.provider_id)
    with session_scope(ctx.readers) as session:
        home = overview.provider_home(session, provider_id=shop.provider_id, actor=me, now=NOW)
        with pytest.raises(NotFound):
            overview.provider_home(session, provider_id=shop.other_provider_id, actor=me, now=NOW)
    assert home.this_month == overview.Figure(10000, 1)
    assert home.last_month == overview.Figure(5000, 1)
    assert home.awaiting_payment == overview.Figure(7000 + 3000 + 4000 + 6000, 4)
    assert home.overdue == overview.Figure(7000, 1)
    assert [p.job_id for p in home.recent_payments] == [
        shop.jobs["paid_this_month"],
        shop.jobs["paid_last_month"],
        shop.jobs["paid_long_ago"],
    ]
    assert home.recent_payments[0].amount == 10000
    assert sum(m.amount for m in home.by_month) == 15000


def report_with(drifts: int, since: datetime | None) -> DriftReport:
    found = [Drift("missing_invoice", job, "completed", "none", "send it") for job in range(drifts)]
    return DriftReport(found, jobs_checked=12, invoices_read=30, since=since)


def test_the_last_drift_check_is_the_newest_recorded(ctx: AppContext, shop: Shop) -> None:
    record_check(ctx, report_with(3, None), actor=SYSTEM)
    record_check(ctx, report_with(1, NOW - timedelta(days=30)), actor=ADMIN)
    with session_scope(ctx.readers) as session:
        check = last_check(session, actor=ADMIN)
        figures = overview.marketplace(session, actor=ADMIN, now=NOW)
        with pytest.raises(Forbidden):
            last_check(session, actor=FINANCE)
    assert check is not None
    assert (check.drifts, check.jobs_checked, check.since, check.by) == (
        1,
        12,
        NOW - timedelta(days=30),
        ADMIN.label,  # no account of that id: the label as recorded
    )
    assert figures.drift == check


def add_event(ctx: AppContext, event_id: str, type_: str, outcome: str, job_id: int | None) -> None:
    with session_scope(ctx.sessions) as session:
        session.add(
            StripeEvent(
                event_id=event_id,
                type=type_,
                created=NOW,
                received_at=NOW,
                outcome=outcome,
                job_id=job_id,
            )
        )


def test_the_live_feed_tells_each_person_their_news(ctx: AppContext, shop: Shop) -> None:
    since = NOW - timedelta(days=4)
    add_event(
        ctx, "evt_failed_mine", "invoice.payment_failed", "customer_notified", shop.jobs["overdue"]
    )
    add_event(
        ctx,
        "evt_failed_other",
        "invoice.payment_failed",
        "customer_notified",
        shop.jobs["others_overdue"],
    )
    # A failure our checks refused (another customer's invoice naming the job) is no news
    # for the provider; admins hear of it as an event that needs a person.
    add_event(ctx, "evt_failed_refused", "invoice.payment_failed", "rejected", shop.jobs["new"])
    with session_scope(ctx.readers) as session:
        mine = live_feed.recent(session, actor=Actor("provider", shop.provider_id), since=since)
        admin = live_feed.recent(session, actor=ADMIN, since=since)
        finance = live_feed.recent(session, actor=FINANCE, since=since)
    assert [(i.kind, i.job_id, i.amount) for i in mine.items] == [
        ("paid", shop.jobs["paid_this_month"], 10000),
        ("payment_failed", shop.jobs["overdue"], None),
    ]
    assert mine.unread == 0
    assert sorted(((i.kind, i.job_id) for i in admin.items), key=str) == sorted(
        [
            ("invoicing_failed", shop.jobs["failed"]),
            ("invoicing_failed", shop.jobs["failed_then_sent"]),
            ("webhook_problem", None),
            ("webhook_problem", shop.jobs["new"]),
            ("payment_failed", shop.jobs["overdue"]),
            ("payment_failed", shop.jobs["others_overdue"]),
        ],
        key=str,
    )
    assert admin.unread is None
    assert finance.items == [] and finance.unread is None
    assert len({i.key for i in admin.items}) == len(admin.items)


def test_a_reconcile_run_from_the_command_line_is_the_last_check(
    ctx: AppContext, reconcile_cli: Callable[..., CliRun]
) -> None:
    run = reconcile_cli("reconcile", "--json")
    assert run.code == 0, run.err
    with session_scope(ctx.readers) as session:
        check = last_check(session, actor=ADMIN)
    assert check is not None
    assert (check.drifts, check.jobs_checked, check.by) == (
        0,
        run.data["jobs_checked"],
        SYSTEM_NAME,
    )


@pytest.mark.parametrize(
    ("now", "then"),
    [
        (datetime(2026, 11, 20, 12, 30, tzinfo=UTC), datetime(2026, 10, 20, 12, 30, tzinfo=UTC)),
        (datetime(2026, 3, 31, 23, 0, tzinfo=UTC), datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), datetime(2025, 12, 15, tzinfo=UTC)),
    ],
)
def test_this_time_last_month(now: datetime, then: datetime) -> None:
    assert overview.same_moment_last_month(now) == then
