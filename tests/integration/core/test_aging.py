"""The aging summary counted in SQL puts every job in the bucket its detail row names, at
the exact edges of each bucket too, on SQLite and PostgreSQL; and its late buckets hold
exactly the jobs the app's overdue rule (and so the admin's overdue filter) calls overdue,
an invoice a microsecond past due among them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.billing.invoice_status import PROGRESS_RANK, is_overdue
from core.context import AppContext
from core.db.models import Job, Payment, StripeInvoice, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.queries import JobFilter, list_jobs
from core.reporting import aging
from tests.support.factories import marketplace, new_job

FINANCE = Actor("finance", 1)
MICROSECOND = timedelta(microseconds=1)


def test_the_summary_counts_each_job_in_the_bucket_of_its_row(ctx: AppContext) -> None:
    now = utcnow().replace(microsecond=500_000)
    # Due dates on both sides of the due date and of every bucket's edge: 0 (due now, so
    # not overdue yet), 7, 30 and 60 days late, and a microsecond more.
    lateness = [None, timedelta(hours=-5)]
    for days in (0, 7, 30, 60):
        lateness += [timedelta(days=days), timedelta(days=days) + MICROSECOND]
    lateness.append(timedelta(days=400))
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        for number, late in enumerate(lateness):
            job = new_job(session, customer, provider, service, price=1000 + number)
            session.execute(
                update(Job).where(Job.id == job.id).values(status="completed", completed_at=now)
            )
            session.execute(
                update(Payment).where(Payment.job_id == job.id).values(amount=job.price)
            )
            if late is not None:
                session.add(
                    StripeInvoice(
                        invoice_id=f"in_aging_{job.id}",
                        job_id=job.id,
                        customer="cus_aging",
                        status="open",
                        status_rank=PROGRESS_RANK["open"],
                        currency="usd",
                        amount_due=job.price,
                        amount_paid=0,
                        amount_remaining=job.price,
                        created=now - timedelta(days=500),
                        due_date=now - late,
                        is_current=True,
                    )
                )

    with session_scope(ctx.readers) as session:
        summary = aging.aging_summary(session, actor=FINANCE, now=now)
        details = aging.aging_details(session, actor=FINANCE, now=now)
        first_three = aging.aging_details(session, actor=FINANCE, now=now, limit=3)

    assert [(d.bucket, d.days_past_due) for d in details] == [
        (aging.NOT_INVOICED, 0),
        ("not yet due", 0),
        ("not yet due", 0),  # due this very moment: not past it yet
        ("1-7 days late", 1),  # a microsecond past due is overdue, and a day begun
        ("1-7 days late", 7),
        ("8-30 days late", 8),
        ("8-30 days late", 30),
        ("31-60 days late", 31),
        ("31-60 days late", 60),
        ("over 60 days late", 61),
        ("over 60 days late", 400),
    ]
    expected = {
        name: (
            sum(1 for d in details if d.bucket == name),
            sum(d.amount for d in details if d.bucket == name),
        )
        for name in aging.AGING_BUCKETS
    }
    assert {row.label: (row.payments, row.amount) for row in summary} == expected
    assert [row.label for row in summary] == list(aging.AGING_BUCKETS)
    assert first_three == details[:3]

    # One overdue rule: the late buckets are the overdue jobs, row by row and in the
    # admin's overdue filter alike.
    late_jobs = {
        d.job_id for d in details if d.bucket not in (aging.NOT_INVOICED, aging.NOT_YET_DUE)
    }
    assert late_jobs == {
        d.job_id for d in details if is_overdue("open" if d.invoiced else None, d.due_date, now)
    }
    with session_scope(ctx.readers) as session:
        overdue = list_jobs(
            session,
            actor=Actor("admin", 1),
            filters=JobFilter(overdue_only=True),
            page_size=100,
            now=now,
        )
    assert {row.job_id for row in overdue.rows} == late_jobs


def test_days_late_counts_days_begun() -> None:
    due = utcnow()
    assert aging.days_late(due, due) == 0
    assert aging.days_late(due, due - timedelta(days=3)) == 0  # not due yet
    assert aging.days_late(due, due + MICROSECOND) == 1
    assert aging.days_late(due, due + timedelta(days=1)) == 1
    assert aging.days_late(due, due + timedelta(days=1, seconds=1)) == 2
    assert [aging.aging_bucket(n) for n in (0, 1, 7, 8, 30, 31, 60, 61)] == [
        "not yet due",
        "1-7 days late",
        "1-7 days late",
        "8-30 days late",
        "8-30 days late",
        "31-60 days late",
        "31-60 days late",
        "over 60 days late",
    ]
