"""Who reaches what: a provider sees only their own jobs and earnings whatever the page
state says; finance has no jobs page and core refuses its Stripe actions; a provider
reaches no admin or finance page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.billing.invoicing import resend_invoice, send_invoice
from core.context import AppContext
from core.db.models import AuditLog, Job, Payment
from core.db.session import session_scope
from core.errors import Forbidden
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.money import format_cents
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    DEV,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    MARIA,
    PROVIDER_PASSWORD,
    Demo,
    Small,
    all_shown_job_ids,
    captions,
    jobs_table,
    metrics,
    nav_titles,
    new_app,
    open_page,
    page_app,
    provider_job_ids,
    shown_job_ids,
    signed_in,
    titles,
)
from tests.support.sandbox import SandboxControl


def other_providers_job(ctx: AppContext, provider_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        job_id = session.scalar(
            select(Job.id).where(Job.provider_id != provider_id).order_by(Job.id)
        )
    assert job_id is not None
    return job_id


def same_session(at: AppTest) -> AppTest:
    """A new app run carrying the signed-in session of `at`, as a browser tab would."""
    fresh = new_app()
    fresh.session_state["auth"] = dict(at.session_state["auth"])
    return fresh


def shows_nothing(at: AppTest) -> bool:
    """The page stopped before drawing anything."""
    return not at.main.children and not at.exception


# ---------------------------------------------------------------------------------------
# A provider and other providers' jobs


def test_admin_filter_state_does_not_widen_a_providers_jobs(
    demo: Demo, dashboard: AppContext
) -> None:
    maria = demo.provider_id(MARIA)
    dev = demo.provider_id(DEV)
    with session_scope(dashboard.sessions) as session:
        own = provider_job_ids(session, maria)
        devs = set(provider_job_ids(session, dev))
    at = open_page(signed_in(MARIA, PROVIDER_PASSWORD), "my_jobs.py")
    assert all_shown_job_ids(at) == own

    # The admin-only filters, set in the page state as a crafted client could.
    at.session_state["filter_provider"] = dev
    at.session_state["filter_overdue"] = False
    at.run()
    assert not at.exception
    assert not [s for s in at.selectbox if s.key == "filter_provider"]
    shown = all_shown_job_ids(at)
    assert shown == own and not devs & set(shown)

    # Another provider's job put in the detail selector's state (in a new run of the same
    # session) shows none of it.
    other = other_providers_job(dashboard, maria)
    tab = same_session(at)
    tab.session_state["selected_job"] = other
    tab.run()
    assert not tab.exception
    assert not [h for h in tab.subheader if h.value.startswith("Job #")]  # none of it shown


def test_searching_another_providers_job_number_finds_nothing(
    demo: Demo, dashboard: AppContext
) -> None:
    maria = demo.provider_id(MARIA)
    other = other_providers_job(dashboard, maria)
    at = open_page(signed_in(MARIA, PROVIDER_PASSWORD), "my_jobs.py")
    for text in (f"#{other}", str(other)):
        at.text_input(key="filter_search").input(text).run()
        assert not at.exception
        assert jobs_table(at) is None and "0 jobs" in captions(at)
        assert "No jobs match these filters." in [i.value for i in at.info]

    # An admin searching the same number finds it, so the search itself works.
    admin = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    admin.text_input(key="filter_search").input(f"#{other}").run()
    assert shown_job_ids(admin) == [other]


def test_a_providers_earnings_are_their_own(demo: Demo, dashboard: AppContext) -> None:
    figures: dict[int, tuple[int, int, int]] = {}
    with session_scope(dashboard.sessions) as session:
        for provider_id in (demo.provider_id(MARIA), demo.provider_id(DEV)):
            balance, paid = session.execute(
                select(func.coalesce(func.sum(Payment.amount), 0), func.count())
                .select_from(Job)
                .join(Payment, Payment.job_id == Job.id)
                .where(Job.provider_id == provider_id, Payment.status == "received")
            ).one()
            outstanding = session.scalar(
                select(func.coalesce(func.sum(Payment.amount), 0))
                .select_from(Job)
                .join(Payment, Payment.job_id == Job.id)
                .where(Job.provider_id == provider_id, Job.status == "completed")
            )
            figures[provider_id] = (int(balance), int(paid), int(outstanding or 0))
    mine, theirs = figures[demo.provider_id(DEV)], figures[demo.provider_id(MARIA)]
    assert mine != theirs

    at = open_page(signed_in(DEV, PROVIDER_PASSWORD), "earnings.py")
    # Whatever the page state claims, the figures follow the signed-in account.
    at.session_state["provider_id"] = demo.provider_id(MARIA)
    at.run()
    shown = metrics(at)
    assert (shown["Balance"], shown["Jobs paid"], shown["Outstanding"]) == (
        format_cents(mine[0]),
        str(mine[1]),
        format_cents(mine[2]),
    )
    monthly = at.expander[0].dataframe[0].value
    assert int(monthly["Payments"].sum()) <= mine[1]


# ---------------------------------------------------------------------------------------
# Finance: reports only


def test_finance_has_no_jobs_page(demo: Demo) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert nav_titles(at) == ["Overview", "Reports"]
    for page in ("app_pages/my_jobs.py", "app_pages/all_jobs.py", "app_pages/earnings.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)

    # Asking for a jobs page by its address (a new tab of the same session) gets the
    # overview, finance's first page.
    for page in ("app_pages/my_jobs.py", "app_pages/all_jobs.py"):
        tab = same_session(at).switch_page(page).run()
        assert not tab.exception
        assert titles(tab) == ["Overview"] and nav_titles(tab) == ["Overview", "Reports"]
        assert jobs_table(tab) is None

    # Each jobs page also refuses finance on its own, drawing nothing, while the page
    # finance has draws.
    for page in ("my_jobs.py", "all_jobs.py", "earnings.py", "notifications.py", "reports.py"):
        alone = page_app(page)
        alone.session_state["auth"] = dict(at.session_state["auth"])
        alone.run()
        if page == "reports.py":
            assert not alone.exception and titles(alone) == ["Reports"]
        else:
            assert shows_nothing(alone), page


def test_core_refuses_finance_stripe_actions(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    finance = Actor("finance", 1)
    with pytest.raises(Forbidden):
        complete_job(dashboard, job_id=small.job_id, actor=finance)
    with session_scope(dashboard.sessions) as session:
        job = session.get(Job, small.job_id)
        assert job is not None and job.status == "new"

    # Completed by its provider: finance can neither send nor resend its invoice.
    done = complete_job(dashboard, job_id=small.job_id, actor=Actor("provider", small.provider_id))
    assert done.invoice is not None
    events_before = len(sandbox.client.v1.events.list(params={"limit": 100}).data)
    for action in (send_invoice, resend_invoice):
        with pytest.raises(Forbidden):
            action(dashboard, job_id=small.job_id, actor=finance)
    assert len(sandbox.client.v1.events.list(params={"limit": 100}).data) == events_before
    with session_scope(dashboard.sessions) as session:
        actors = set(session.scalars(select(AuditLog.actor)))
    assert "finance:1" not in actors


# ---------------------------------------------------------------------------------------
# A provider and the staff pages


def test_a_provider_reaches_no_admin_or_finance_page(demo: Demo) -> None:
    at = signed_in(MARIA, PROVIDER_PASSWORD)
    for page in ("app_pages/all_jobs.py", "app_pages/reports.py", "app_pages/webhook_activity.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)

    for page in ("app_pages/all_jobs.py", "app_pages/reports.py"):
        tab = same_session(at).switch_page(page).run()
        assert not tab.exception
        assert titles(tab) == ["Home"]  # the provider's first page
        assert not [f for f in tab.dataframe if "Provider" in f.value.columns]
        assert not tab.tabs and not tab.download_button

    # Run on their own with the provider's session, the staff pages draw nothing, while
    # the provider's own page does.
    for page in ("all_jobs.py", "reports.py", "webhook_activity.py", "my_jobs.py"):
        alone = page_app(page)
        alone.session_state["auth"] = dict(at.session_state["auth"])
        alone.run()
        if page == "my_jobs.py":
            assert not alone.exception and titles(alone) == ["My jobs"]
        else:
            assert shows_nothing(alone), page


def test_staff_pages_refuse_a_session_without_sign_in(demo: Demo) -> None:
    for page in ("my_jobs.py", "all_jobs.py", "reports.py", "webhook_activity.py", "earnings.py"):
        alone = page_app(page).run()
        assert shows_nothing(alone), page
