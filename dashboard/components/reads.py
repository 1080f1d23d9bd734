"""Cached reads for the pages. Every function takes the signed-in actor, which core uses
to scope the query; the cache key includes it, so one user never gets another's rows.
Each reads through the reader sessions (`read_session`): no write lock, no writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import streamlit as st

from core.billing import webhook_activity
from core.db.models import utcnow
from core.identity.actor import Actor
from core.jobs import queries, reminder_line, timeline
from core.jobs.queries import JobFilter, JobPage, list_jobs
from core.jobs.view import job_details
from core.notify import notifications, outbox_admin
from core.observability import health
from core.reporting import aging as aging_report
from core.reporting import earnings, overview, reports
from dashboard.components.runtime import READ_TTL_SECONDS, context, read_session


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=500, show_spinner=False)
def jobs_page(actor: Actor, filters: JobFilter, page: int, page_size: int) -> JobPage:
    with read_session() as session:
        return list_jobs(session, actor=actor, filters=filters, page=page, page_size=page_size)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=500, show_spinner=False)
def job_page_number(actor: Actor, filters: JobFilter, job_id: int, page_size: int) -> int | None:
    with read_session() as session:
        return queries.page_of_job(
            session, actor=actor, job_id=job_id, filters=filters, page_size=page_size
        )


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=500, show_spinner=False)
def job_detail(actor: Actor, job_id: int) -> dict[str, object]:
    return job_details(context().reading(), job_id=job_id, actor=actor, with_invoice=False)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=500, show_spinner=False)
def job_history(actor: Actor, job_id: int) -> list[timeline.TimelineEntry]:
    with read_session() as session:
        return timeline.job_timeline(session, job_id=job_id, actor=actor)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=500, show_spinner=False)
def job_reminders(actor: Actor, job_id: int) -> reminder_line.JobReminders:
    with read_session() as session:
        return reminder_line.job_reminders(session, job_id=job_id, actor=actor)


@st.cache_data(ttl=300, max_entries=10, show_spinner=False)
def provider_names() -> dict[int, str]:
    with read_session() as session:
        return queries.provider_names(session)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=200, show_spinner=False)
def earnings_overview(actor: Actor, provider_id: int) -> earnings.Overview:
    with read_session() as session:
        return earnings.overview(session, provider_id=provider_id, actor=actor)


@dataclass(frozen=True)
class NotificationItem:
    id: int
    title: str
    body: str
    job_id: int | None
    created_at: datetime
    read: bool


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=200, show_spinner=False)
def notification_list(actor: Actor) -> list[NotificationItem]:
    if actor.role != "provider" or actor.id is None:
        return []
    with read_session() as session:
        rows = notifications.list_for(
            session, recipient_kind="provider", recipient_id=actor.id, limit=200
        )
        return [
            NotificationItem(n.id, n.title, n.body, n.job_id, n.created_at, n.read_at is not None)
            for n in rows
        ]


@dataclass(frozen=True)
class WebhookOverview:
    last_received_at: datetime | None
    seconds_since_last: int | None
    by_type_and_outcome: list[tuple[str, str, int]]
    problems: list[dict[str, object]]
    emails: webhook_activity.EmailTrouble | None


@st.cache_data(ttl=10, max_entries=20, show_spinner=False)
def webhook_overview(actor: Actor) -> WebhookOverview:
    with read_session() as session:
        summary = webhook_activity.activity(session, actor=actor)
        return WebhookOverview(
            summary.last_received_at,
            summary.seconds_since_last,
            summary.by_type_and_outcome,
            [
                {
                    "Received": e.received_at,
                    "Event": e.event_id,
                    "Type": e.type,
                    "Outcome": e.outcome,
                    "Job #": e.job_id,
                    "Detail": e.error or e.detail or "",
                }
                for e in summary.problems
            ],
            summary.emails,
        )


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=200, show_spinner=False)
def payments_report(
    actor: Actor, start: date, end: date, group_by: reports.Grouping, basis: reports.Basis
) -> reports.Report:
    with read_session() as session:
        return reports.payments_received(
            session, actor=actor, start=start, end=end, group_by=group_by, basis=basis
        )


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=50, show_spinner=False)
def aging(actor: Actor, limit: int) -> tuple[list[reports.ReportRow], list[aging_report.AgingRow]]:
    """The aging summary and the first `limit` unpaid jobs (the export has them all)."""
    with read_session() as session:
        now = utcnow()
        return (
            aging_report.aging_summary(session, actor=actor, now=now),
            aging_report.aging_details(session, actor=actor, now=now, limit=limit),
        )


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=4, show_spinner=False)
def system_health() -> health.Health:
    """The outbox backlog, the last webhook's age, ...: what the service's /readyz says."""
    with read_session() as session:
        return health.read_health(session)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=50, show_spinner=False)
def marketplace_overview(actor: Actor) -> overview.MarketplaceOverview:
    with read_session() as session:
        return overview.marketplace(session, actor=actor)


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=200, show_spinner=False)
def provider_home(actor: Actor, provider_id: int) -> overview.ProviderHome:
    with read_session() as session:
        return overview.provider_home(session, provider_id=provider_id, actor=actor)


@dataclass(frozen=True)
class OutboxView:
    counts: dict[str, int]
    failed: list[outbox_admin.OutboxMessage]
    pending: list[outbox_admin.OutboxMessage]


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=20, show_spinner=False)
def outbox_view(actor: Actor, limit: int) -> OutboxView:
    with read_session() as session:
        return OutboxView(
            outbox_admin.outbox_summary(session, actor=actor),
            outbox_admin.list_messages(session, actor=actor, status="failed", limit=limit),
            outbox_admin.list_messages(session, actor=actor, status="pending", limit=limit),
        )
