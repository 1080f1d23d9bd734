"""The aging summary counted in SQL puts every job in the bucket its detail row names,
at the exact edges of each bucket too, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.billing.invoice_status import PROGRESS_RANK
from core.context import AppContext
from core.db.models import Job, Payment, StripeInvoice, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import aging
from tests.support.factories import marketplace, new_job

FINANCE = Actor("finance", 1)
MICROSECOND = timedelta(microseconds=1)


def test_the_summary_counts_each_job_in_the_bucket_of_its_row(ctx: AppContext) -> None:
    now = utcnow().replace(microsecond=500_000)
    # Due dates on both sides of every bucket's edge: 1, 8, 31 and 61 whole days late.
    lateness = [None, timedelta(hours=-5), timedelta(0)]
    for days in (1, 8, 31, 61):
        lateness += [timedelta(days=days) - MICROSECOND, timedelta(days=days)]
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

    assert [d.bucket for d in details] == [
        aging.NOT_INVOICED,
        "not yet due",
        "not yet due",
        "not yet due",  # 1 µs short of a whole day late
        "1-7 days",
        "1-7 days",
        "8-30 days",
        "8-30 days",
        "31-60 days",
        "31-60 days",
        "over 60 days",
        "over 60 days",
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
