"""The home pages: the admins' and finance staff's overview and a provider's home, their
figures against core's, the filters their links carry, and the live part: a payment
recorded while the page is open shows on the next timer tick with a toast, and the
unread count in the navigation follows."""

from __future__ import annotations

import pytest
import streamlit as st
from sqlalchemy import select

from core.billing.drift_checks import check
from core.context import AppContext
from core.db.models import Account
from core.db.session import session_scope
from core.errors import CardDeclined
from core.identity.accounts import actor_of, create_account
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting import overview
from dashboard.components.formatting import money
from tests.conftest import LiveService
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    MARIA,
    PROVIDER_PASSWORD,
    Demo,
    Small,
    captions,
    metrics,
    nav_titles,
    open_page,
    page_links,
    run_fragments,
    shown_job_ids,
    signed_in,
    titles,
    toasts,
)
from tests.support.sandbox import SandboxControl


def actor_for(ctx: AppContext, email: str) -> Actor:
    with session_scope(ctx.sessions) as session:
        account = session.scalars(select(Account).where(Account.username == email)).one()
        return actor_of(account)


def marketplace_figures(ctx: AppContext, actor: Actor) -> overview.MarketplaceOverview:
    with session_scope(ctx.readers) as session:
        return overview.marketplace(session, actor=actor)


def test_admins_land_on_the_overview_with_cores_figures_and_filtered_links(
    demo: Demo, dashboard: AppContext
) -> None:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert titles(at) == ["Overview"]
    nav = nav_titles(at)
    assert nav[0] == "Overview"
    assert {"All jobs", "Webhook activity", "Reconciliation", "Reports"} <= set(nav)
    figures = marketplace_figures(dashboard, actor_for(dashboard, ADMIN_EMAIL))
    shown = metrics(at)
    assert shown["Collected this month"] == money(figures.this_month.amount)
    assert shown["Outstanding"] == money(figures.outstanding.amount)
    assert shown["Overdue"] == money(figures.overdue.amount)
    assert shown["Failed invoicing"] == str(figures.failed_invoicing.count)
    assert figures.webhooks is not None
    assert shown["Webhook events to review"] == str(figures.webhooks.needing_attention)
    assert shown["Drift with Stripe"] == "not checked"
    links = page_links(at)
    assert links["Overdue invoices"][1] == "overdue=1"
    assert links["Completed jobs"][1] == "status=completed"
    assert links["Overdue invoices"][0].endswith("all_jobs")
    assert links["Webhook activity"][0].endswith("webhook_activity")
    assert links["Reconciliation"][0].endswith("reconciliation")


def test_finance_gets_the_overview_and_reports_without_admin_tiles(
    demo: Demo, dashboard: AppContext
) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert titles(at) == ["Overview"]
    assert nav_titles(at) == ["Overview", "Reports"]
    figures = marketplace_figures(dashboard, actor_for(dashboard, FINANCE_EMAIL))
    assert figures.webhooks is None and figures.drift is None
    shown = metrics(at)
    assert shown["Collected this month"] == money(figures.this_month.amount)
    assert shown["Outstanding"] == money(figures.outstanding.amount)
    assert shown["Overdue"] == money(figures.overdue.amount)
    assert "Webhook events to review" not in shown and "Drift with Stripe" not in shown
    # Finance cannot open All jobs, so the money tiles open the Reports page.
    assert {page for page, _ in page_links(at).values()} == {"reports"}


def add_admin(ctx: AppContext) -> Actor:
    with session_scope(ctx.sessions) as session:
        admin = create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        session.flush()
        return actor_of(admin)


def test_the_drift_tile_shows_the_last_recorded_check_and_can_run_one(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    admin = add_admin(dashboard)
    complete_job(dashboard, job_id=small.job_id, actor=Actor("provider", small.provider_id))
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert metrics(at)["Drift with Stripe"] == "not checked"
    check(dashboard, actor=admin)  # e.g. the nightly run: nothing is wrong
    st.cache_data.clear()  # what the cached reads' ttl does
    run_fragments(at)
    assert metrics(at)["Drift with Stripe"] == "0"
    sandbox.reset()  # Stripe forgets the invoice: the job has no live invoice there
    assert metrics(run_fragments(at))["Drift with Stripe"] == "0"  # not run on a render
    at.button(key="overview_drift_check").click().run()
    assert metrics(at)["Drift with Stripe"] == "1"
    assert any(c.startswith("Checked ") and c.endswith("by Alex Admin") for c in captions(at))


def test_providers_land_on_their_home_with_cores_figures(demo: Demo, dashboard: AppContext) -> None:
    at = signed_in(MARIA, PROVIDER_PASSWORD)
    assert titles(at) == ["Home"]
    assert nav_titles(at)[:3] == ["Home", "My jobs", "Earnings"]
    provider_id = demo.provider_id(MARIA)
    maria = Actor("provider", provider_id)
    with session_scope(dashboard.readers) as session:
        home = overview.provider_home(session, provider_id=provider_id, actor=maria)
    shown = metrics(at)
    assert shown["Received this month"] == money(home.this_month.amount)
    assert shown["Awaiting payment"] == money(home.awaiting_payment.amount)
    assert shown["Overdue"] == money(home.overdue.amount)
    links = page_links(at)
    assert links["Completed jobs"] == ("my_jobs", "status=completed")
    assert links["Overdue invoices"] == ("my_jobs", "status=completed&overdue=1")
    (recent,) = [f.value for f in at.dataframe if "Job #" in f.value.columns]
    assert list(recent["Job #"]) == [p.job_id for p in home.recent_payments]
    assert list(recent["Amount"]) == [p.amount / 100 for p in home.recent_payments]


def open_invoice(ctx: AppContext, small: Small) -> str:
    result = complete_job(ctx, job_id=small.job_id, actor=Actor("provider", small.provider_id))
    assert result.invoice is not None and result.invoice.status == "open", result.error
    return result.invoice.invoice_id


def test_a_payment_while_home_is_open_shows_on_the_next_tick_with_a_toast_and_the_badge(
    small: Small, dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    invoice_id = open_invoice(dashboard, small)
    at = signed_in(small.email, small.password)
    assert metrics(at)["Awaiting payment"] == "$150.00"
    assert nav_titles(at)[-1] == "Notifications"
    run_fragments(at)
    assert toasts(at) == [] and titles(at) == []  # only the fragment ran: nothing new

    dashboard.gateway.pay_test_invoice(invoice_id, card="visa")
    assert sandbox.drain() == 0
    run_fragments(at)
    assert toasts(at) == [f"Payment received: $150.00 for job #{small.job_id}"]
    shown = metrics(at)
    assert shown["Received this month"] == "$150.00" and shown["Awaiting payment"] == "$0.00"
    # The payment's notification moved the unread count, so the whole app ran again to
    # redraw the navigation.
    assert nav_titles(at)[-1] == "Notifications (1)" and titles(at) == ["Home"]
    run_fragments(at)
    assert toasts(at) == []  # told once


def test_admins_hear_of_a_failed_payment_without_the_page_running_again(
    small: Small, dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    add_admin(dashboard)
    invoice_id = open_invoice(dashboard, small)
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    with pytest.raises(CardDeclined):
        dashboard.gateway.pay_test_invoice(invoice_id, card="declined")
    assert sandbox.drain() == 0
    run_fragments(at)
    assert toasts(at) == [f"A payment failed for job #{small.job_id}"]
    assert titles(at) == [] and metrics(at)["Overdue"] == "$0.00"  # the fragment alone
    # Told once, whichever page is open next.
    open_page(at, "all_jobs.py")
    assert toasts(run_fragments(at)) == []


def test_the_job_list_runs_again_when_one_of_its_jobs_is_paid(
    small: Small, dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    invoice_id = open_invoice(dashboard, small)
    at = open_page(signed_in(small.email, small.password), "my_jobs.py")
    run_fragments(at)
    assert titles(at) == []  # nothing new: only the watcher ran
    dashboard.gateway.pay_test_invoice(invoice_id, card="visa")
    assert sandbox.drain() == 0
    run_fragments(at)
    assert toasts(at) == [f"Payment received: $150.00 for job #{small.job_id}"]
    assert titles(at) == ["My jobs"] and nav_titles(at)[-1] == "Notifications (1)"
    assert shown_job_ids(at) == [small.job_id]
