"""`page_of_job` finds the page of `list_jobs` that shows a job, with the same filters,
order (newest first, ties by id) and scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from core.context import AppContext
from core.db.models import Job, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.queries import JobFilter, list_jobs, page_of_job
from tests.support.factories import Market, job_for

ADMIN = Actor("admin", None)
T = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def test_every_job_is_on_the_page_list_jobs_shows_it_on(ctx: AppContext, market: Market) -> None:
    ids = [job_for(ctx, market) for _ in range(11)]
    with session_scope(ctx.sessions) as session:
        for index, job_id in enumerate(ids):
            # Pairs of jobs made at the same instant: the tie is broken by id.
            at = T + timedelta(minutes=index // 2)
            session.execute(update(Job).where(Job.id == job_id).values(created_at=at))
        session.execute(update(Job).where(Job.id.in_(ids[::3])).values(status="completed"))
    for filters in (JobFilter(), JobFilter(statuses=("completed",))):
        with session_scope(ctx.sessions) as session:
            pages: dict[int, int] = {}
            for number in (1, 2, 3, 4):
                for row in list_jobs(
                    session, actor=ADMIN, filters=filters, page=number, page_size=3
                ).rows:
                    pages.setdefault(row.job_id, number)
            for job_id in ids:
                found = page_of_job(
                    session, actor=ADMIN, job_id=job_id, filters=filters, page_size=3
                )
                assert found == pages.get(job_id), (filters, job_id)


def test_a_job_out_of_scope_has_no_page(ctx: AppContext, market: Market) -> None:
    job_id = job_for(ctx, market)
    with session_scope(ctx.sessions) as session:
        other = ServiceProvider(name="Other", email="other@example.com")
        session.add(other)
        session.flush()
        assert page_of_job(session, actor=market.provider, job_id=job_id) == 1
        assert page_of_job(session, actor=Actor("provider", other.id), job_id=job_id) is None
        assert page_of_job(session, actor=ADMIN, job_id=job_id + 1000) is None
