"""The marketplace at a glance, for admins and finance staff: money collected (net of
refunds and lost disputes) and owed, money that moved back and what disputes hold, what
needs a person, and a chart of collected money; each tile opens its list."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.billing.drift_checks import DriftCheck, check
from core.errors import AppError
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.reporting.overview import MarketplaceOverview
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.email_trouble import email_trouble_links
from dashboard.components.formatting import ago, money, when
from dashboard.components.home_tiles import collected_chart, count_of, link, month_so_far, tile
from dashboard.components.live import live_section
from dashboard.components.runtime import context, data_changed
from dashboard.components.safe_text import md

ALL_JOBS = "app_pages/all_jobs.py"
REPORTS = "app_pages/reports.py"
WEBHOOKS = "app_pages/webhook_activity.py"
RECONCILIATION = "app_pages/reconciliation.py"

user = current_user()
if user is None or not allowed(user.actor, "reports.read"):
    st.stop()
actor = user.actor
st.title("Overview")


def _seconds_since(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))


def money_tiles(figures: MarketplaceOverview, actor: Actor) -> None:
    manages_jobs = allowed(actor, "jobs.manage")
    this, last, so_far = figures.this_month, figures.last_month, figures.last_month_so_far
    collected, outstanding, overdue, failed = st.columns(4)
    with tile(collected):
        month_so_far("Collected this month", this, last, so_far, net_of=figures.back_this_month)
        link(REPORTS, "Payments report")
    with tile(outstanding):
        st.metric(
            "Outstanding", money(figures.outstanding.amount), help="Completed jobs not paid yet"
        )
        st.caption(count_of(figures.outstanding.count, "job"))
        if manages_jobs:
            link(ALL_JOBS, "Completed jobs", status="completed")
        else:
            link(REPORTS, "Receivables aging")
    with tile(overdue):
        st.metric(
            "Overdue", money(figures.overdue.amount), help="Invoices open past their due date"
        )
        st.caption(count_of(figures.overdue.count, "invoice"))
        if manages_jobs:
            link(ALL_JOBS, "Overdue invoices", overdue="1")
        else:
            link(REPORTS, "Receivables aging")
    with tile(failed):
        st.metric(
            "Failed invoicing",
            figures.failed_invoicing.count,
            help="Completed jobs whose last attempt to send the invoice failed",
        )
        st.caption(f"{md(money(figures.failed_invoicing.amount))} not billed")
        if manages_jobs:
            for job_id in figures.failed_job_ids:
                link(ALL_JOBS, f"Job #{job_id}", job=str(job_id))


def money_back_tiles(figures: MarketplaceOverview, actor: Actor) -> None:
    """Refunds and lost disputes this month, and what open disputes hold now, each opening
    the jobs they are on (the job list's invoice filter), or the report for finance."""
    manages_jobs = allowed(actor, "jobs.manage")
    back, held = figures.back_this_month, figures.held_in_disputes
    refunded, holding, _, _ = st.columns(4)
    with tile(refunded):
        st.metric(
            "Refunded this month",
            money(back.refunded.amount),
            help="Refunds made this month (not failed or canceled), whenever the payment was",
        )
        lost = back.disputes_lost
        st.caption(
            f"{count_of(back.refunded.count, 'refund')}; lost in disputes this month: "
            f"{md(money(lost.amount))} ({count_of(lost.count, 'dispute')})"
        )
        if manages_jobs:
            link(ALL_JOBS, "Refunded jobs", invoice="refunded")
            link(ALL_JOBS, "Partly refunded jobs", invoice="partly refunded")
        else:
            link(REPORTS, "Payments report")
    with tile(holding):
        st.metric(
            "Held in disputes",
            money(held.amount),
            help="What disputes still open hold: taken off only if they are lost",
        )
        st.caption(count_of(held.count, "open dispute"))
        if manages_jobs:
            link(ALL_JOBS, "Disputed jobs", invoice="disputed")
        else:
            link(REPORTS, "Payments report")


def drift_tile(drift: DriftCheck | None, now: datetime) -> None:
    if drift is None:
        st.metric("Drift with Stripe", "not checked")
        st.caption("No reconciliation check has run yet.")
    else:
        scope = f"jobs completed since {when(drift.since)}" if drift.since else "every job"
        st.metric(
            "Drift with Stripe",
            drift.drifts,
            help=f"From the last check: {count_of(drift.jobs_checked, 'job')} ({scope})",
        )
        seconds = _seconds_since(drift.checked_at, now)
        st.caption(f"Checked {ago(seconds)} by {md(drift.by)}")
    link(RECONCILIATION, "Reconciliation")
    st.button(
        "Check now",
        key="overview_drift_check",
        icon=":material/compare_arrows:",
        on_click=run_drift_check,
    )
    failure = st.session_state.pop("overview_drift_error", None)
    if failure:
        st.error(md(failure))


def run_drift_check() -> None:
    """Compare with Stripe before the page draws again, so the tile shows this check."""
    try:
        check(context(), actor=actor)
    except AppError as error:
        st.session_state["overview_drift_error"] = error.message
    data_changed()


def health_tiles(figures: MarketplaceOverview) -> None:
    if figures.webhooks is None:
        return
    hooks, drift, emails, _ = st.columns(4)
    system = reads.system_health()  # the same reading as the service's /readyz
    with tile(hooks):
        seconds = _seconds_since(system.last_webhook_at, system.now)
        st.metric(
            "Webhook events to review",
            figures.webhooks.needing_attention,
            help="Events that were not applied as they came and need a person",
        )
        st.caption(f"Last event received {ago(seconds)}")
        link(WEBHOOKS, "Webhook activity")
    if allowed(actor, "reconcile"):
        with tile(drift):
            drift_tile(figures.drift, figures.now)
    if figures.emails is not None:
        with tile(emails):
            trouble = figures.emails
            st.metric(
                "E-mail not delivered",
                trouble.failed + trouble.not_configured,
                help="Failed for good, or waiting because e-mail (SMTP_URL) is not configured",
            )
            st.caption(f"{count_of(system.outbox_backlog, 'e-mail')} waiting to go out")
            email_trouble_links(trouble)


def render() -> None:
    figures = reads.marketplace_overview(actor)
    money_tiles(figures, actor)
    money_back_tiles(figures, actor)
    health_tiles(figures)
    st.subheader("Collected by month (net)")
    collected_chart(figures.by_month, key="overview_collected")
    st.caption(f"Updated {when(figures.now, with_time=True)} UTC")


live_section(actor, render)
