"""A provider's pages: My jobs (table, filters, detail, actions against the Stripe sandbox),
Earnings and Notifications, checked against the database and the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import AuditLog, Customer, Job, Notification, Payment, ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.jobs.timeline import job_timeline
from core.money import format_cents
from core.notify.notifications import notify
from core.reporting import earnings
from tests.conftest import LiveService
from tests.integration.dashboard.conftest import (
    MARIA,
    PROVIDER_PASSWORD,
    Demo,
    Small,
    all_shown_job_ids,
    badges,
    button_keys,
    captions,
    errors,
    jobs_table,
    metrics,
    nav_titles,
    open_job,
    open_page,
    provider_job_ids,
    shown,
    shown_job_ids,
    signed_in,
    successes,
    titles,
)
from tests.support.sandbox import SandboxControl


def sandbox_invoices(sandbox: SandboxControl, job_id: int) -> list[Any]:
    """The job's invoices as the sandbox has them (found through metadata, like core)."""
    result = sandbox.client.v1.invoices.search(params={"query": f"metadata['job_id']:'{job_id}'"})
    return list(result.data)


def job_status(ctx: AppContext, job_id: int) -> str:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def my_jobs(email: str, password: str) -> AppTest:
    """Signed in, on the My jobs page."""
    return open_page(signed_in(email, password), "my_jobs.py")


def clear_faults(sandbox: SandboxControl) -> None:
    sandbox.http.delete("/_sandbox/faults").raise_for_status()


# ---------------------------------------------------------------------------------------
# My jobs: what the table shows


def test_my_jobs_lists_exactly_the_providers_jobs(demo: Demo, dashboard: AppContext) -> None:
    provider_id = demo.provider_id(MARIA)
    with session_scope(dashboard.sessions) as session:
        expected = provider_job_ids(session, provider_id)
        others = session.scalar(
            select(func.count()).select_from(Job).where(Job.provider_id != provider_id)
        )
    assert len(expected) > 25 and others  # more than one page, and other providers' jobs exist

    at = my_jobs(MARIA, PROVIDER_PASSWORD)
    assert titles(at) == ["My jobs"]
    assert f"{len(expected)} jobs" in captions(at)
    frame = jobs_table(at)
    assert "Provider" not in frame.columns  # a provider's own table has no provider column
    assert len(frame) == 25
    # Every page together is exactly the provider's jobs, newest first.
    assert all_shown_job_ids(at) == expected


def test_filters_change_the_rows(demo: Demo, dashboard: AppContext) -> None:
    provider_id = demo.provider_id(MARIA)
    with session_scope(dashboard.sessions) as session:
        rows = session.execute(
            select(Job.id, Job.status, Job.created_at, Customer.name)
            .join(Customer, Customer.id == Job.customer_id)
            .where(Job.provider_id == provider_id)
            .order_by(Job.created_at.desc(), Job.id.desc())
        ).all()
    at = my_jobs(MARIA, PROVIDER_PASSWORD)

    # Status
    at.multiselect(key="filter_status").set_value(["paid"]).run()
    paid = [r.id for r in rows if r.status == "paid"]
    assert paid and len(paid) < len(rows)
    assert all_shown_job_ids(at) == paid
    assert {tuple(v) for v in jobs_table(at)["Job"]} == {("paid",)}
    at.multiselect(key="filter_status").set_value(["new", "completed"]).run()
    assert all_shown_job_ids(at) == [r.id for r in rows if r.status in ("new", "completed")]
    at.multiselect(key="filter_status").set_value([]).run()

    # Created between two dates (inclusive, UTC days)
    days = sorted({r.created_at.astimezone(UTC).date() for r in rows})
    start, end = days[len(days) // 4], days[len(days) // 2]
    at.date_input(key="filter_dates").set_value((start, end)).run()
    in_range = [r.id for r in rows if start <= r.created_at.astimezone(UTC).date() <= end]
    assert 0 < len(in_range) < len(rows)
    assert all_shown_job_ids(at) == in_range
    at.date_input(key="filter_dates").set_value(()).run()
    assert len(all_shown_job_ids(at)) == len(rows)

    # Search by job number, with or without "#", and by part of the customer's name
    some = rows[len(rows) // 3]
    for text in (f"#{some.id}", str(some.id)):
        at.text_input(key="filter_search").input(text).run()
        assert shown_job_ids(at) == [some.id], text
    fragment = some.name.split()[-1][1:4].upper()  # case does not matter
    at.text_input(key="filter_search").input(fragment).run()
    matching = [r.id for r in rows if fragment.lower() in r.name.lower()]
    assert some.id in matching
    assert all_shown_job_ids(at) == matching

    at.text_input(key="filter_search").input("no customer is called this").run()
    assert jobs_table(at) is None
    assert "0 jobs" in captions(at)
    assert "No jobs match these filters." in [i.value for i in at.info]


def test_job_detail_shows_its_timeline(demo: Demo, dashboard: AppContext) -> None:
    provider_id = demo.provider_id(MARIA)
    actor = Actor("provider", provider_id)
    with session_scope(dashboard.sessions) as session:
        job_id = session.scalar(
            select(Job.id)
            .where(Job.provider_id == provider_id, Job.status == "paid")
            .order_by(Job.created_at.desc())
        )
        assert job_id is not None
        job = session.get(Job, job_id)
        assert job is not None
        price = job.price
        timeline = job_timeline(session, job_id=job_id, actor=actor)

    at = my_jobs(MARIA, PROVIDER_PASSWORD)
    open_job(at, job_id)
    assert at.subheader[0].value.startswith(f"Job #{job_id} · ")
    assert metrics(at) == {"Price": format_cents(price)}
    assert badges(at) == ["Job: paid", "Invoice: not invoiced", "Payment: received"]
    assert at.expander[0].label == "Timeline"
    history = [shown(m.value) for m in at.expander[0].markdown]
    assert history == [
        f"{e.at:%Y-%m-%d %H:%M} UTC · **{e.what}**" + (f" — {e.detail}" if e.detail else "")
        for e in timeline
    ]
    whats = {e.what for e in timeline}
    assert {"Job created", "Completed", "Paid", "Notification"} <= whats
    # A paid job offers no action.
    assert [k for k in button_keys(at) if k not in ("sign_out", "page_prev", "page_next")] == []


# ---------------------------------------------------------------------------------------
# My jobs: actions, against the sandbox


def test_mark_complete_asks_then_completes_and_invoices(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    job_id = small.job_id
    at = my_jobs(small.email, small.password)
    assert shown_job_ids(at) == [job_id]
    open_job(at, job_id)
    assert [k for k in button_keys(at) if k and k.startswith("complete")] == [f"complete_{job_id}"]

    # The first click only asks; "Cancel" changes nothing.
    at.button(key=f"complete_{job_id}").click().run()
    assert [w.value for w in at.warning] == [
        f"Mark job #{job_id} complete and send the customer an invoice for $150.00?"
    ]
    assert job_status(dashboard, job_id) == "new"
    at.button(key=f"no_{job_id}").click().run()
    assert not at.warning and f"complete_{job_id}" in button_keys(at)
    assert job_status(dashboard, job_id) == "new"
    assert sandbox_invoices(sandbox, job_id) == []

    at.button(key=f"complete_{job_id}").click().run()
    at.button(key=f"yes_{job_id}").click().run()
    assert not at.exception and not at.error, errors(at)

    invoices = sandbox_invoices(sandbox, job_id)
    assert len(invoices) == 1
    invoice = invoices[0]
    assert (invoice.status, invoice.amount_due) == ("open", 15000)
    due = datetime.fromtimestamp(invoice.due_date, UTC)
    assert successes(at) == [
        f"Job completed. Invoice {invoice.number} is open, due {due:%B %d, %Y}."
    ]
    links = {b.value: b.proto.url for b in at.link_button}
    assert links == {
        "Open the invoice": invoice.hosted_invoice_url,
        "Invoice PDF": invoice.invoice_pdf,
    }
    with session_scope(dashboard.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalar(select(Payment).where(Payment.job_id == job_id))
        assert job is not None and job.status == "completed" and job.completed_at is not None
        assert payment is not None and (payment.amount, payment.status) == (15000, "pending")
    # The table shows the new state, and the next action is a resend.
    row = jobs_table(at).iloc[0]
    assert [list(row[c]) for c in ("Job", "Payment", "Invoice")] == [
        ["completed"],
        ["pending"],
        ["open"],
    ]
    assert row["Pay link"] == invoice.hosted_invoice_url
    assert f"resend_{job_id}" in button_keys(at)
    assert f"complete_{job_id}" not in button_keys(at)


def test_stripe_failure_is_shown_and_the_retry_sends_the_same_invoice(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    job_id = small.job_id
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=10)
    at = open_job(my_jobs(small.email, small.password), job_id)
    at.button(key=f"complete_{job_id}").click().run()
    at.button(key=f"yes_{job_id}").click().run()
    assert not at.exception
    shown = errors(at)
    assert len(shown) == 1
    assert f"Invoicing job #{job_id} failed at send" in shown[0]
    assert "The job stays completed" in shown[0]
    assert not successes(at) and not at.link_button
    assert job_status(dashboard, job_id) == "completed"
    drafts = sandbox_invoices(sandbox, job_id)
    assert [i.status for i in drafts] == ["draft"]
    with session_scope(dashboard.sessions) as session:
        failed = session.scalars(
            select(AuditLog).where(AuditLog.job_id == job_id, AuditLog.result == "failed")
        ).all()
        assert [(a.action, (a.after or {}).get("step")) for a in failed] == [
            ("invoice.send", "send")
        ]

    clear_faults(sandbox)
    at.run()
    # What the page offers for a job whose invoice stopped half-way (checked last, so that
    # the retry itself is tested whatever the label says).
    offered = at.button(key=f"send_{job_id}").label
    invoice_column = list(jobs_table(at).iloc[0]["Invoice"])
    at.button(key=f"send_{job_id}").click().run()
    assert not at.exception and not at.error, errors(at)
    invoices = sandbox_invoices(sandbox, job_id)
    assert [(i.id, i.status) for i in invoices] == [(drafts[0].id, "open")]  # no second invoice
    assert successes(at) and successes(at)[0].startswith(
        f"Sent. Invoice {invoices[0].number} is open, due "
    )
    assert job_status(dashboard, job_id) == "completed"
    assert list(jobs_table(at).iloc[0]["Invoice"]) == ["open"]

    # The draft left in Stripe by the failed attempt should show as such, with the retry.
    assert (invoice_column, offered) == (["draft"], "Retry sending the invoice")


def test_resend_an_open_invoice(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    job_id = small.job_id
    done = complete_job(dashboard, job_id=job_id, actor=Actor("provider", small.provider_id))
    assert done.invoice is not None and done.invoice.status == "open"

    at = my_jobs(small.email, small.password)
    assert list(jobs_table(at).iloc[0]["Invoice"]) == ["open"]
    open_job(at, job_id)
    at.button(key=f"resend_{job_id}").click().run()
    assert not at.exception and not at.error, errors(at)
    assert successes(at) and successes(at)[0].startswith(
        f"Sent again. Invoice {done.invoice.number} is open, due "
    )
    sent = sandbox.client.v1.events.list(params={"type": "invoice.sent", "limit": 100})
    assert [e.data.object["id"] for e in sent.data] == [done.invoice.invoice_id] * 2
    with session_scope(dashboard.sessions) as session:
        resends = session.scalars(
            select(AuditLog.result).where(
                AuditLog.job_id == job_id, AuditLog.action == "invoice.resend"
            )
        ).all()
        assert resends == ["ok"]
    # Still one invoice; the resend made no new one.
    assert [i.id for i in sandbox_invoices(sandbox, job_id)] == [done.invoice.invoice_id]


# ---------------------------------------------------------------------------------------
# Earnings


def _received(session: Any, provider_id: int, since: datetime | None = None) -> tuple[int, int]:
    query = (
        select(func.coalesce(func.sum(Payment.amount), 0), func.count())
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.provider_id == provider_id, Payment.status == "received")
    )
    if since is not None:
        query = query.where(Payment.marked_at >= since)
    amount, count = session.execute(query).one()
    return int(amount), int(count)


def test_earnings_equal_the_database_to_the_cent(demo: Demo, dashboard: AppContext) -> None:
    # The provider with the most received in the last 30 days, so no figure is trivially 0.
    since = utcnow() - timedelta(days=30)
    with session_scope(dashboard.sessions) as session:
        recent = {pid: _received(session, pid, since) for pid in demo.provider_ids.values()}
        provider_id = max(recent, key=lambda pid: recent[pid][0])
        balance, paid_count = _received(session, provider_id)
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert (provider.earnings, provider.total_jobs) == (balance, paid_count)
        outstanding = session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0))
            .select_from(Job)
            .join(Payment, Payment.job_id == Job.id)
            .where(Job.provider_id == provider_id, Job.status == "completed")
        )
        actor = Actor("provider", provider_id)
        months = earnings.by_month(session, provider_id=provider_id, actor=actor)
        categories = earnings.by_category(session, provider_id=provider_id, actor=actor)
    assert recent[provider_id][0] > 0 and outstanding

    email = next(e for e, pid in demo.provider_ids.items() if pid == provider_id)
    at = open_page(signed_in(email, PROVIDER_PASSWORD), "earnings.py")
    assert titles(at) == ["Earnings"]
    assert metrics(at) == {
        "Balance": format_cents(balance),
        "Jobs paid": str(paid_count),
        "Outstanding": format_cents(int(outstanding or 0)),
        "Last 30 days": format_cents(recent[provider_id][0]),
    }

    monthly = at.expander[0].dataframe[0].value
    assert list(monthly.columns) == ["Month", "Earned", "Payments"]
    assert [tuple(r) for r in monthly.itertuples(index=False)] == [
        (m.label[:7], m.amount / 100, m.count) for m in months
    ]
    # The months add up to what was received since the first month shown.
    first = datetime.fromisoformat(months[0].label).replace(tzinfo=UTC)
    with session_scope(dashboard.sessions) as session:
        assert (sum(m.amount for m in months), sum(m.count for m in months)) == _received(
            session, provider_id, first
        )
    by_category = [d.value for d in at.dataframe if "Category" in d.value.columns][0]
    assert [tuple(r) for r in by_category.itertuples(index=False)] == [
        (c.label, c.amount / 100, c.count) for c in categories
    ]
    assert sum(c.amount for c in categories) == balance


# ---------------------------------------------------------------------------------------
# Notifications


def test_notifications_newest_first_with_unread_count_and_mark_read(
    small: Small, dashboard: AppContext
) -> None:
    base = utcnow() - timedelta(days=1)
    ids: dict[str, int] = {}
    with session_scope(dashboard.sessions) as session:
        # Inserted out of order: the page orders by time, not by id.
        made = (("middle", 2, False), ("oldest", 1, True), ("newest", 3, False))
        for name, hours, was_read in made:
            note = notify(
                session,
                recipient_kind="provider",
                recipient_id=small.provider_id,
                kind="payment_received",
                title=f"Title {name}",
                body=f"Body {name}",
                job_id=small.job_id,
            )
            note.created_at = base + timedelta(hours=hours)
            note.read_at = base if was_read else None
            session.flush()
            ids[name] = note.id
        # Someone else's notifications: a customer with the same id, and another provider.
        other = ServiceProvider(name="Other Provider", email="other@example.com")
        session.add(other)
        session.flush()
        for kind, recipient in (("customer", small.provider_id), ("provider", other.id)):
            notify(
                session,
                recipient_kind=kind,
                recipient_id=recipient,
                kind="payment_received",
                title="Not yours",
                body="Not yours",
                job_id=None,
            )

    at = signed_in(small.email, small.password)
    assert nav_titles(at) == ["Home", "My jobs", "Earnings", "Notifications (2)"]
    open_page(at, "notifications.py")
    assert titles(at) == ["Notifications"]
    assert "2 unread of 3" in captions(at)
    texts = [shown(m.value) for m in at.main.markdown]
    bodies = [str(t.value) for t in at.main.text]  # bodies are plain text elements
    headings = [t for t in texts if t.startswith("**")]
    assert [h.split(" · ")[0] for h in headings] == [
        "**:blue[:material/fiber_manual_record:] Title newest**",
        "**:blue[:material/fiber_manual_record:] Title middle**",
        "**Title oldest**",
    ]
    assert [t for t in bodies if t.startswith("Body")] == [
        "Body newest",
        "Body middle",
        "Body oldest",
    ]
    assert "Not yours" not in " ".join(texts + bodies)
    assert sorted(k for k in button_keys(at) if k and k.startswith("read_")) == sorted(
        [f"read_{ids['newest']}", f"read_{ids['middle']}"]
    )

    at.button(key=f"read_{ids['middle']}").click().run()
    assert not at.exception
    with session_scope(dashboard.sessions) as session:
        read = dict(
            session.execute(
                select(Notification.id, Notification.read_at.is_not(None)).where(
                    Notification.id.in_(ids.values())
                )
            ).all()
        )
    assert read == {ids["newest"]: False, ids["middle"]: True, ids["oldest"]: True}
    assert nav_titles(at)[-1] == "Notifications (1)"
    assert "1 unread of 3" in captions(at)

    at.button(key="mark_all_read").click().run()
    assert not at.exception
    with session_scope(dashboard.sessions) as session:
        unread = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.read_at.is_(None))
        )
    assert unread == 2  # only the two that are not this provider's
    assert nav_titles(at)[-1] == "Notifications"
    assert "0 unread of 3" in captions(at)
    assert "mark_all_read" not in button_keys(at)
    assert not [k for k in button_keys(at) if k and k.startswith("read_")]


def test_a_paid_invoice_shows_up_on_every_provider_page(
    small: Small, dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    """Complete in the dashboard, pay on Stripe's side: the webhook makes the job paid, and
    the provider's pages show it once the cached reads expire."""
    at = open_job(my_jobs(small.email, small.password), small.job_id)
    at.button(key=f"complete_{small.job_id}").click().run()
    at.button(key=f"yes_{small.job_id}").click().run()
    assert successes(at), errors(at)
    (invoice,) = sandbox_invoices(sandbox, small.job_id)
    dashboard.gateway.pay_test_invoice(invoice.id, card="visa")
    assert sandbox.drain() == 0
    assert job_status(dashboard, small.job_id) == "paid"

    st.cache_data.clear()  # what the 30-second ttl of the cached reads does
    at.run()
    row = jobs_table(at).iloc[0]
    assert [list(row[c]) for c in ("Job", "Payment", "Invoice")] == [
        ["paid"],
        ["received"],
        ["paid"],
    ]
    assert nav_titles(at)[-1] == "Notifications (1)"
    open_page(at, "earnings.py")
    assert metrics(at)["Balance"] == "$150.00" and metrics(at)["Jobs paid"] == "1"
    assert metrics(at)["Outstanding"] == "$0.00"
    open_page(at, "notifications.py")
    assert f"Payment of $150.00 received for Job #{small.job_id}" in [
        str(t.value) for t in at.main.text
    ]
