"""An admin's job actions on the dashboard: cancelling a job that was not paid (asked
first, with a reason; its invoice voided) and booking a job on a customer's behalf."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import AuditLog, Job, Payment, Service
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM
from core.jobs.lifecycle import complete_job
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Small,
    add_job,
    errors,
    open_page,
    shown,
    signed_in,
    small_marketplace,
    successes,
)
from tests.support.sandbox import SandboxControl


def job_actions_for(role: str, actor_id: int | None, job_id: int) -> None:
    """The job's actions as the detail shows them, for one actor (AppTest runs this)."""
    from core.identity.actor import Actor
    from core.jobs.queries import JobFilter
    from dashboard.components import reads
    from dashboard.components.job_actions import action_buttons, show_last_result

    actor = Actor(role, actor_id)  # type: ignore[arg-type]
    [row] = reads.jobs_page(actor, JobFilter(job_id=job_id), 1, 1).rows
    show_last_result(job_id)
    action_buttons(actor, row)


def actions(role: str, actor_id: int | None, job_id: int) -> AppTest:
    at = AppTest.from_function(
        job_actions_for, kwargs={"role": role, "actor_id": actor_id, "job_id": job_id}
    )
    at.run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    return at


def job_status(ctx: AppContext, job_id: int) -> str:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def test_an_admin_cancels_an_unpaid_job_after_confirming_with_a_reason(
    dashboard: AppContext, sandbox: SandboxControl
) -> None:
    small = small_marketplace(dashboard)
    result = complete_job(dashboard, job_id=small.job_id, actor=SYSTEM)
    assert result.invoice is not None
    invoice_id = result.invoice.invoice_id
    job_id = small.job_id

    at = actions("admin", 1, job_id)
    assert f"cancel_{job_id}" in [b.key for b in at.button]
    at.button(key=f"cancel_{job_id}").click().run()
    assert [shown(w.value) for w in at.warning] == [
        f"Cancel job #{job_id} (Plumbing for Ann Lee, $150.00)? Its invoice is voided in "
        "Stripe, so the customer can no longer pay it. This cannot be undone."
    ]
    assert at.button(key=f"cancel_yes_{job_id}").disabled  # no reason yet
    at.button(key=f"cancel_no_{job_id}").click().run()  # "Keep the job"
    assert not at.warning and job_status(dashboard, job_id) == "completed"

    at.button(key=f"cancel_{job_id}").click().run()
    at.text_input(key=f"cancel_reason_{job_id}").input("Customer moved away").run()
    at.button(key=f"cancel_yes_{job_id}").click().run()
    assert not at.exception and not errors(at)

    assert successes(at) == [
        f"Job #{job_id} is cancelled; invoice {invoice_id} can no longer be paid."
    ]
    assert job_status(dashboard, job_id) == "cancelled"
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "void"
    with session_scope(dashboard.sessions) as session:
        [entry] = session.scalars(
            select(AuditLog).where(AuditLog.job_id == job_id, AuditLog.action == "job.cancelled")
        ).all()
        assert (entry.actor, entry.reason) == ("admin:1", "Customer moved away")
    # A cancelled job offers nothing more.
    assert not [b for b in at.button if b.key and b.key.startswith("cancel")]


def test_cancel_is_offered_to_admins_only_and_never_for_a_paid_job(
    dashboard: AppContext, sandbox: SandboxControl
) -> None:
    small = small_marketplace(dashboard)
    new_job = small.job_id
    cancel_key = f"cancel_{new_job}"
    assert cancel_key in [b.key for b in actions("admin", 1, new_job).button]
    assert cancel_key not in [b.key for b in actions("provider", small.provider_id, new_job).button]

    result = complete_job(dashboard, job_id=new_job, actor=SYSTEM)
    assert result.invoice is not None
    dashboard.gateway.pay_out_of_band(result.invoice.invoice_id)
    with session_scope(dashboard.sessions) as session:  # as the webhook would have left it
        session.execute(update(Job).where(Job.id == new_job).values(status="paid"))
        session.execute(update(Payment).where(Payment.job_id == new_job).values(status="received"))
    st.cache_data.clear()  # the job's row is cached for a few seconds
    at = actions("admin", 1, new_job)
    assert cancel_key not in [b.key for b in at.button]


def test_an_admin_books_a_job_for_a_customer_from_all_jobs(
    dashboard: AppContext, sandbox: SandboxControl
) -> None:
    small: Small = small_marketplace(dashboard)
    with session_scope(dashboard.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        session.add(Service(name="Lawn Mowing", category="Outdoor", base_price=6500))
        before = set(session.scalars(select(Job.id)))

    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    assert at.button(key="book_job").disabled
    at.text_input(key="book_search").input("ann").run()
    customer = at.selectbox(key="book_customer")
    assert customer.options == [f"Ann Lee · ann@example.com · #{small.customer_id}"]
    customer.set_value(small.customer_id).run()
    at.selectbox(key="book_provider").set_value(small.provider_id).run()
    # Only what the provider offers: Plumbing, which they have done; not Lawn Mowing.
    assert at.selectbox(key="book_service").options == ["Plumbing"]
    at.selectbox(key="book_service").set_value(small.service_id).run()

    at.text_input(key="book_price").input("0.10").run()
    at.button(key="book_job").click().run()
    assert errors(at) and errors(at)[0].startswith("price must be between $0.50")
    with session_scope(dashboard.sessions) as session:
        assert set(session.scalars(select(Job.id))) == before

    at.text_input(key="book_price").input("175").run()
    at.text_area(key="book_description").input("Dripping tap, [urgent](http://x.example)").run()
    at.button(key="book_job").click().run()
    assert not at.exception and not errors(at)

    with session_scope(dashboard.sessions) as session:
        [job_id] = set(session.scalars(select(Job.id))) - before
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.customer_id, job.provider_id, job.price, job.status) == (
            small.customer_id,
            small.provider_id,
            17500,
            "new",
        )
        [entry] = session.scalars(select(AuditLog).where(AuditLog.job_id == job_id)).all()
        assert entry.action == "job.created" and entry.actor.startswith("admin:")
    assert (
        f"Job #{job_id} booked for Ann Lee with Rivera Plumbing: Plumbing, $175.00."
        in successes(at)
    )
    assert at.text_input(key="book_search").value == ""  # the form is ready for the next


def test_booking_needs_a_provider_that_offers_the_service(
    dashboard: AppContext, sandbox: SandboxControl
) -> None:
    small = small_marketplace(dashboard)
    with session_scope(dashboard.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        add_job(
            session,
            customer_id=small.customer_id,
            provider_id=small.provider_id,
            service_id=small.service_id,
        )
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    at.text_input(key="book_search").input(f"#{small.customer_id}").run()
    assert len(at.selectbox(key="book_customer").options) == 1
    at.text_input(key="book_search").input("nobody-like-this").run()
    assert "No customer matches “nobody-like-this”." in [shown(c.value) for c in at.caption]
