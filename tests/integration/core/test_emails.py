"""`render_message` on outbox rows, on SQLite and PostgreSQL: the facts are the job's and
its current invoice's when the message is sent, the notifications the system writes each
get their own template, and text people wrote stays text. (Refunds and disputes, whose
e-mails read the refund or dispute itself: test_money_back_emails.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core.billing import reminders
from core.billing.admin_actions import void_and_reissue
from core.billing.invoice_status import PROGRESS_RANK
from core.context import AppContext
from core.db.models import (
    Customer,
    EmailMessage,
    Job,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeInvoice,
)
from core.db.session import session_scope
from core.identity.actor import Actor
from core.notify.emails import RenderedEmail, render_message
from tests.support.factories import Market, invoiced_job, job_for

ADMIN = Actor("admin")
DONE_AT = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)
DUE = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
LINK = "https://invoice.stripe.com/i/acct_1/test_link"


def done_job(ctx: AppContext, market: Market, *, description: str | None = "Kitchen sink") -> int:
    job_id = job_for(ctx, market, price=15000, description=description)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.completed_at = "completed", DONE_AT
        payment = session.scalar(select(Payment).where(Payment.job_id == job_id))
        assert payment is not None
        payment.amount = 15000
    return job_id


def current_invoice(
    ctx: AppContext,
    job_id: int,
    *,
    status: str = "open",
    remaining: int = 15000,
    url: str | None = LINK,
    invoice_id: str | None = None,
) -> None:
    with session_scope(ctx.sessions) as session:
        session.add(
            StripeInvoice(
                invoice_id=invoice_id or f"in_mail_{job_id}",
                job_id=job_id,
                customer="cus_mail",
                status=status,
                status_rank=PROGRESS_RANK[status],
                number="MAIL-0001",
                currency="usd",
                amount_due=15000,
                amount_paid=15000 - remaining,
                amount_remaining=remaining,
                created=DONE_AT,
                due_date=DUE,
                hosted_invoice_url=url,
                is_current=True,
            )
        )


def queue(
    ctx: AppContext,
    job_id: int,
    kind: str,
    *,
    recipient: str = "customer",
    title: str = "Title",
    body: str = "Body",
    key: str | None = None,
    created_at: datetime | None = None,
) -> int:
    """A notification and its outbox row, with the columns the system gives them (written
    here directly, so the test picks the kind and key whatever is e-mailed today)."""
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        note = Notification(
            recipient_kind=recipient,
            recipient_id=job.provider_id if recipient == "provider" else job.customer_id,
            kind=kind,
            title=title,
            body=body,
            job_id=job_id,
        )
        session.add(note)
        session.flush()
        message = EmailMessage(
            message_key=key or f"notification:{note.id}",
            kind=kind,
            notification_id=note.id,
            job_id=job_id,
            to_address="someone@example.com",
        )
        if created_at is not None:
            message.created_at = created_at
        session.add(message)
        session.flush()
        return message.id


def rendered(ctx: AppContext, message_id: int) -> RenderedEmail:
    with session_scope(ctx.readers) as session:
        message = session.get(EmailMessage, message_id)
        assert message is not None
        return render_message(session, message)


def test_the_invoice_email_names_the_job_and_carries_the_current_pay_link(
    ctx: AppContext, market: Market
) -> None:
    job_id = done_job(ctx, market)
    current_invoice(ctx, job_id, remaining=12000)
    email = rendered(ctx, queue(ctx, job_id, "invoice_sent"))
    assert email.subject == f"Invoice for job #{job_id} (Plumbing): $120.00, due December 5, 2026"
    assert email.text.startswith("Hello Ann Lee,\n")
    for fact in (
        f"Job #{job_id}",
        "Service: Plumbing",
        "Provider: Rivera Plumbing",
        "Date: November 28, 2026",
        "Details: Kitchen sink",
        "Amount due: $120.00",
        "Invoice: MAIL-0001",
        LINK,
    ):
        assert fact in email.text, fact
    assert f'href="{LINK}"' in email.html


def test_each_notification_the_system_writes_gets_its_own_email(
    ctx: AppContext, market: Market
) -> None:
    job_id = done_job(ctx, market)
    current_invoice(ctx, job_id)
    confirmed = rendered(ctx, queue(ctx, job_id, "payment_confirmed"))
    failed = rendered(ctx, queue(ctx, job_id, "payment_failed"))
    received = rendered(ctx, queue(ctx, job_id, "payment_received", recipient="provider"))
    assert "received your payment of $150.00" in confirmed.text
    assert LINK not in confirmed.text
    assert "did not go through" in failed.text and LINK in failed.text
    assert received.text.startswith("Hello Rivera Plumbing,\n")
    assert f"Ann Lee has paid $150.00 for job #{job_id}" in received.text


def test_the_link_is_read_when_sent_so_a_reissued_invoice_gives_the_new_one(
    ctx: AppContext, market: Market
) -> None:
    job_id, first = invoiced_job(ctx, market)
    message_id = queue(ctx, job_id, "invoice_sent")
    with session_scope(ctx.readers) as session:
        first_link = session.scalar(
            select(StripeInvoice.hosted_invoice_url).where(StripeInvoice.invoice_id == first)
        )
    assert first_link and first_link in rendered(ctx, message_id).text

    result = void_and_reissue(
        ctx, job_id=job_id, new_price=17500, actor=ADMIN, reason="wrong price"
    )
    assert result.applied and result.finished, result.message
    with session_scope(ctx.readers) as session:
        now_current = session.scalars(
            select(StripeInvoice).where(
                StripeInvoice.job_id == job_id, StripeInvoice.is_current.is_(True)
            )
        ).one()
    assert now_current.invoice_id != first and now_current.hosted_invoice_url
    email = rendered(ctx, message_id)
    assert now_current.hosted_invoice_url in email.text and first_link not in email.text
    assert "$175.00" in email.subject


def test_no_pay_link_once_the_invoice_is_paid_or_void(ctx: AppContext, market: Market) -> None:
    paid_job = done_job(ctx, market)
    current_invoice(ctx, paid_job, status="paid", remaining=0)
    void_job = done_job(ctx, market)
    current_invoice(ctx, void_job, status="void")
    for job_id in (paid_job, void_job):
        email = rendered(ctx, queue(ctx, job_id, "payment_failed"))
        assert LINK not in email.text and LINK not in email.html
        assert "nothing to pay" in email.text
        assert "$150.00" in email.text  # the job's amount, from its payment


def test_a_reminder_says_how_late_the_invoice_was_when_it_was_queued(
    ctx: AppContext, market: Market
) -> None:
    """Counted from the due date to the day it was queued, not from its step: a run that
    came late sends step 3 for an invoice 7 days late, and says 7."""
    job_id = done_job(ctx, market)
    current_invoice(ctx, job_id, invoice_id="in_remind")
    late_run = queue(
        ctx, job_id, "reminder", key="reminder:in_remind:3", created_at=DUE + timedelta(days=7)
    )
    by_key = rendered(ctx, late_run)
    assert by_key.subject.endswith("$150.00, 7 days late")
    assert "is 7 days late (it was due on December 5, 2026)" in by_key.text
    assert LINK in by_key.text
    early = rendered(ctx, queue(ctx, job_id, "reminder", created_at=DUE - timedelta(days=3)))
    assert early.subject.endswith("due in 3 days")


MARKUP = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [x](https://evil.example)"


def test_what_people_wrote_is_text_in_every_field(ctx: AppContext, market: Market) -> None:
    job_id = done_job(ctx, market, description=f"Sink\n{MARKUP}")
    current_invoice(ctx, job_id)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        hostile = f"Name\r\nBcc: x@example.com {MARKUP}"
        session.execute(update(Customer).where(Customer.id == job.customer_id).values(name=hostile))
        session.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == job.provider_id)
            .values(name=hostile)
        )
        session.execute(update(Service).where(Service.id == job.service_id).values(name=hostile))
    for kind in ("invoice_sent", "payment_received", "refund", "something_new"):
        email = rendered(ctx, queue(ctx, job_id, kind, title=f"T {MARKUP}", body=f"B {MARKUP}"))
        assert "\n" not in email.subject and "\r" not in email.subject
        assert "<script>" not in email.html and "<img src=x" not in email.html
        assert 'href="https://evil.example' not in email.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
        assert MARKUP in email.text, kind
        assert "Name Bcc: x@example.com" in email.text  # names are one line


def test_a_row_naming_no_job_is_refused(ctx: AppContext) -> None:
    with session_scope(ctx.sessions) as session:
        message = EmailMessage(message_key="orphan", kind="refund", to_address="a@example.com")
        session.add(message)
        session.flush()
        with pytest.raises(LookupError, match="names no job"):
            render_message(session, message)


def test_a_reminder_the_reminder_run_queued_renders_its_step_and_the_link(
    ctx: AppContext, market: Market
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    with session_scope(ctx.readers) as session:
        invoice = session.get(StripeInvoice, invoice_id)
        assert invoice is not None and invoice.due_date is not None
        due, link = invoice.due_date, invoice.hosted_invoice_url
    run = reminders.run_due_reminders(ctx, now=due + timedelta(days=7, hours=1))
    assert [(o.reminder.job_id, o.reminder.step) for o in run.outcomes] == [(job_id, 7)]
    with session_scope(ctx.readers) as session:
        message = session.scalars(select(EmailMessage).where(EmailMessage.kind == "reminder")).one()
        email = render_message(session, message)
    assert email.subject == f"Reminder: invoice for job #{job_id} (Plumbing), $150.00, 7 days late"
    assert f"is 7 days late (it was due on {due:%B} {due.day}, {due.year})" in email.text
    assert link and link in email.text
