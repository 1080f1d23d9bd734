"""An admin's pages: All jobs (every provider, provider filter, overdue toggle, bulk resend
against the sandbox) and Webhook activity (last event, problems)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import streamlit as st
from sqlalchemy import func, select, update

from core.billing.customers import remember_stripe_customer
from core.billing.outcome_text import describe_outcome
from core.billing.stripe_gateway import API_VERSION
from core.billing.stripe_objects import EventInfo
from core.billing.webhooks import process_event
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Job,
    Payment,
    ServiceProvider,
    StripeEvent,
    StripeInvoice,
    utcnow,
)
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM
from core.jobs.lifecycle import complete_job
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Demo,
    add_job,
    all_shown_job_ids,
    captions,
    jobs_table,
    metrics,
    open_page,
    provider_job_ids,
    shown,
    shown_job_ids,
    signed_in,
    small_marketplace,
    titles,
)
from tests.support.sandbox import SandboxControl


def test_all_jobs_shows_every_provider_and_filters_by_provider(
    demo: Demo, dashboard: AppContext
) -> None:
    with session_scope(dashboard.sessions) as session:
        newest = list(
            session.scalars(select(Job.id).order_by(Job.created_at.desc(), Job.id.desc()))
        )
        names = dict(session.execute(select(ServiceProvider.id, ServiceProvider.name)).all())
        provider_id = demo.provider_ids[list(demo.provider_ids)[2]]
        theirs = provider_job_ids(session, provider_id)

    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    assert titles(at) == ["All jobs"]
    assert f"{len(newest)} jobs" in captions(at)
    frame = jobs_table(at)
    assert list(frame["Job #"]) == newest[:25]
    assert "Provider" in frame.columns
    assert len(set(frame["Provider"])) > 1

    # Every job of every provider is reachable through the pages.
    assert all_shown_job_ids(at) == newest

    picker = at.selectbox(key="filter_provider")
    assert picker.options == ["All providers", *sorted(names.values())]
    picker.set_value(provider_id).run()
    assert not at.exception
    assert f"{len(theirs)} jobs" in captions(at)
    assert all_shown_job_ids(at) == theirs
    assert set(jobs_table(at)["Provider"]) == {names[provider_id]}

    at.selectbox(key="filter_provider").set_value(None).run()
    assert f"{len(newest)} jobs" in captions(at)


@dataclass(frozen=True)
class Overdue:
    overdue: list[int]  # jobs whose open invoice is past due, newest first
    current: int  # a job with an open invoice not yet due
    invoices: dict[int, str]  # job id → Stripe invoice id


def make_overdue_invoices(ctx: AppContext) -> Overdue:
    """Three jobs of two providers invoiced through core; two of their invoices made overdue
    in our copy of the invoices (due dates are compared with the real clock)."""
    small = small_marketplace(ctx)
    with session_scope(ctx.sessions) as session:
        other = ServiceProvider(name="Other Plumbing", email="other@example.com")
        session.add(other)
        session.flush()
        second = add_job(
            session,
            customer_id=small.customer_id,
            provider_id=other.id,
            service_id=small.service_id,
            price=9900,
        )
        third = add_job(
            session,
            customer_id=small.customer_id,
            provider_id=small.provider_id,
            service_id=small.service_id,
            price=12000,
        )
    invoices = {}
    for job_id in (small.job_id, second, third):
        result = complete_job(ctx, job_id=job_id, actor=SYSTEM)
        assert result.invoice is not None and result.invoice.status == "open"
        invoices[job_id] = result.invoice.invoice_id
    past = utcnow() - timedelta(days=5)
    with session_scope(ctx.sessions) as session:
        session.execute(
            update(StripeInvoice)
            .where(StripeInvoice.job_id.in_([small.job_id, second]))
            .values(due_date=past)
        )
    return Overdue([second, small.job_id], third, invoices)


def test_overdue_toggle_and_bulk_resend(dashboard: AppContext, sandbox: SandboxControl) -> None:
    made = make_overdue_invoices(dashboard)
    with session_scope(dashboard.sessions) as session:  # the accounts are made here
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )

    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    assert sorted(shown_job_ids(at)) == sorted([*made.overdue, made.current])
    at.toggle(key="filter_overdue").set_value(True).run()
    assert not at.exception
    assert sorted(shown_job_ids(at)) == sorted(made.overdue)
    assert {tuple(v) for v in jobs_table(at)["Invoice"]} == {("overdue",)}  # red pills
    at.toggle(key="filter_overdue").set_value(False).run()
    assert len(shown_job_ids(at)) == 3

    # Bulk resend lists exactly the overdue invoices.
    chooser = at.multiselect(key="bulk_resend_jobs")
    assert sorted(label.split(" · ")[0] for label in chooser.options) == sorted(
        f"#{job_id}" for job_id in made.overdue
    )
    assert at.button(key="bulk_resend").disabled

    # The second resend fails at Stripe; the first goes through.
    sent_ok, fails = made.overdue[0], made.overdue[1]
    sandbox.fault(f"/v1/invoices/{made.invoices[fails]}/send", method="POST", status=500, count=10)
    at.multiselect(key="bulk_resend_jobs").set_value([sent_ok, fails]).run()
    assert at.button(key="bulk_resend").label == "Resend 2 invoices"
    # The first click only says who will be e-mailed; "Not now" sends nothing.
    at.button(key="bulk_resend").click().run()
    assert [shown(w.value) for w in at.warning] == [
        "This e-mails 1 customer again: 2 invoices sent again, each to its customer. "
        "Nothing else changes."
    ]
    assert at.button(key="bulk_resend_yes").label == "Yes, e-mail 1 customer"
    at.button(key="bulk_resend_no").click().run()
    assert not at.warning
    assert not [d for d in at.dataframe if "Result" in d.value.columns]
    at.button(key="bulk_resend").click().run()
    at.button(key="bulk_resend_yes").click().run()
    assert not at.exception
    results = [d.value for d in at.dataframe if "Result" in d.value.columns]
    assert len(results) == 1
    table = results[0]
    assert list(table["Job #"]) == [sent_ok, fails]
    assert list(table["Result"]) == ["Sent again", "Failed"]
    ok_number = sandbox.client.v1.invoices.retrieve(made.invoices[sent_ok]).number
    assert table.iloc[0]["Detail"] == f"Invoice {ok_number} was sent again."
    assert "Stripe could not be reached or failed (send)" in table.iloc[1]["Detail"]
    assert "1 of 2 invoices sent again; 1 failed (see the detail)." in [
        shown(m.value) for m in at.markdown
    ]

    sent = sandbox.client.v1.events.list(params={"type": "invoice.sent", "limit": 100})
    sent_for = [e.data.object["id"] for e in sent.data]
    assert sent_for.count(made.invoices[sent_ok]) == 2  # the first send and the resend
    assert sent_for.count(made.invoices[fails]) == 1  # only the first send
    with session_scope(dashboard.sessions) as session:
        resends = dict(
            session.execute(
                select(AuditLog.job_id, AuditLog.result).where(AuditLog.action == "invoice.resend")
            ).all()
        )
    assert resends == {sent_ok: "ok", fails: "failed"}


def invoice_object(
    job_id: int | None, payment_id: int | None, *, amount_paid: int, status: str = "paid"
) -> dict[str, Any]:
    """An invoice as Stripe puts it in an event."""
    return {
        "id": f"in_test_{job_id}_{amount_paid}",
        "object": "invoice",
        "status": status,
        "customer": "cus_test",
        "currency": "usd",
        "amount_due": amount_paid,
        "amount_paid": amount_paid,
        "amount_remaining": 0,
        "created": int(utcnow().timestamp()) - 60,
        "metadata": {"job_id": str(job_id), "payment_id": str(payment_id)},
        "status_transitions": {"paid_at": int(utcnow().timestamp())},
    }


def event(event_id: str, event_type: str, obj: dict[str, Any]) -> EventInfo:
    return EventInfo(event_id, event_type, utcnow() - timedelta(minutes=1), API_VERSION, obj)


def test_webhook_activity_shows_last_event_and_problems(dashboard: AppContext) -> None:
    small = small_marketplace(dashboard)
    with session_scope(dashboard.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        second = add_job(
            session,
            customer_id=small.customer_id,
            provider_id=small.provider_id,
            service_id=small.service_id,
        )
        for job_id in (small.job_id, second):  # completed, billed $150.00, not paid
            session.execute(update(Job).where(Job.id == job_id).values(status="completed"))
            session.execute(update(Payment).where(Payment.job_id == job_id).values(amount=15000))
        payments = dict(session.execute(select(Payment.job_id, Payment.id)).all())
        # As invoicing records it: the customer's Stripe customer, whom the invoices name.
        remember_stripe_customer(session, small.customer_id, "cus_test")

    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    open_page(at, "webhook_activity.py")
    assert titles(at) == ["Webhook activity"]
    assert metrics(at) == {"Last event received": "—", "How long ago": "never"}
    assert "No event needs attention." in [s.value for s in at.success]

    outcomes = {
        "evt_applied": process_event(
            dashboard.sessions,
            event(
                "evt_applied",
                "invoice.paid",
                invoice_object(small.job_id, payments[small.job_id], amount_paid=15000),
            ),
        ).outcome,
        "evt_orphan": process_event(
            dashboard.sessions,
            event("evt_orphan", "invoice.paid", invoice_object(9999, 9999, amount_paid=500)),
        ).outcome,
        "evt_mismatch": process_event(
            dashboard.sessions,
            event(
                "evt_mismatch",
                "invoice.paid",
                invoice_object(second, payments[second], amount_paid=100),
            ),
        ).outcome,
    }
    assert outcomes == {
        "evt_applied": "applied",
        "evt_orphan": "orphan",
        "evt_mismatch": "amount_mismatch",
    }
    with session_scope(dashboard.sessions) as session:  # a database failure, as recorded
        session.add(
            StripeEvent(
                event_id="evt_failed",
                type="invoice.paid",
                created=utcnow() - timedelta(minutes=2),
                received_at=utcnow(),
                outcome="failed",
                error="OperationalError: database is locked",
                job_id=second,
            )
        )
    with session_scope(dashboard.sessions) as session:
        last = session.scalar(select(func.max(StripeEvent.received_at)))
        counts = session.execute(
            select(StripeEvent.type, StripeEvent.outcome, func.count()).group_by(
                StripeEvent.type, StripeEvent.outcome
            )
        ).all()
        problems = list(
            session.execute(
                select(StripeEvent.event_id, StripeEvent.outcome)
                .where(StripeEvent.outcome.in_(("failed", "orphan", "amount_mismatch")))
                .order_by(StripeEvent.received_at.desc())
            ).all()
        )
    assert last is not None

    st.cache_data.clear()  # the page's reads are cached for 10 seconds
    at.run()
    assert not at.exception
    figures = metrics(at)
    assert figures["Last event received"] == last.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert figures["How long ago"].endswith("ago")
    frames = [d.value for d in at.dataframe]
    by_type = next(f for f in frames if list(f.columns) == ["Type", "Outcome", "Events"])
    assert sorted(map(tuple, by_type.itertuples(index=False))) == sorted(
        (t, describe_outcome(o), c) for t, o, c in counts
    )
    assert ("invoice.paid", "Amount does not match", 1) in set(
        map(tuple, by_type.itertuples(index=False))
    )
    needs_attention = next(f for f in frames if "Event" in f.columns)
    assert [(r["Event"], r["Outcome"]) for _, r in needs_attention.iterrows()] == [
        (event_id, describe_outcome(outcome)) for event_id, outcome in problems
    ]
    assert set(needs_attention["Outcome"]) == {
        "Failed (Stripe retries it)",
        "Names no job of ours",
        "Amount does not match",
    }
    assert set(needs_attention["Event"]) == {"evt_orphan", "evt_mismatch", "evt_failed"}
    details = dict(zip(needs_attention["Event"], needs_attention["Detail"], strict=True))
    assert details["evt_failed"] == "OperationalError: database is locked"
    assert details["evt_mismatch"] == (
        f"Stripe received $1.00; payment #{payments[second]} is for $150.00"
    )
    assert "job_id=9999" in details["evt_orphan"]
    jobs = dict(zip(needs_attention["Event"], needs_attention["Job #"], strict=True))
    assert jobs["evt_mismatch"] == second and jobs["evt_failed"] == second
    assert not [s.value for s in at.success if s.value == "No event needs attention."]
