"""The e-mails of money moving back, on SQLite and PostgreSQL: which kinds are e-mailed and
to whom, each refund's e-mail with that refund's amount (not the payment's) and what is
still paid, the memo as text, what a dispute means for the provider's earnings and when
it is answered; and a refund through the sandbox, its webhooks delivered twice, handed to
a real SMTP server once per side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.billing import money_back
from core.context import AppContext
from core.db.models import EmailMessage, Notification, StripeRefund, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.notify import money_back_facts
from core.notify.delivery import DeliveryWorker
from core.notify.emails import RenderedEmail, render_message
from core.notify.outbox import EMAILED_KINDS, is_emailed
from tests.conftest import LiveService
from tests.support.factories import Market, job_for
from tests.support.money_back_told import dispute_told, mark_paid, refund_told
from tests.support.sandbox import SandboxControl
from tests.support.smtp import SmtpServer, running_smtp

CUSTOMER, PROVIDER = "ann@example.com", "maria@example.com"
MARKUP = "<script>alert(1)</script> <b>bold</b> **md** [x](https://evil.example)"
MAIL_FROM = "Marketplace <no-reply@marketplace.example>"


def paid_job(ctx: AppContext, market: Market, amount: int = 20000) -> int:
    job_id = job_for(ctx, market, price=amount, description="Kitchen sink")
    mark_paid(ctx, job_id, amount)
    return job_id


def emails(ctx: AppContext, job_id: int, kind: str) -> list[tuple[str, RenderedEmail]]:
    """(address, e-mail as it would be sent now) of each outbox row of `kind`, oldest first."""
    with session_scope(ctx.readers) as session:
        rows = session.scalars(
            select(EmailMessage)
            .where(EmailMessage.job_id == job_id, EmailMessage.kind == kind)
            .order_by(EmailMessage.id)
        ).all()
        return [(row.to_address, render_message(session, row)) for row in rows]


def only(ctx: AppContext, job_id: int, kind: str) -> RenderedEmail:
    (found,) = emails(ctx, job_id, kind)
    return found[1]


def test_every_money_back_kind_is_emailed_to_the_one_it_concerns(
    ctx: AppContext, market: Market
) -> None:
    assert {kind: EMAILED_KINDS.get(kind) for kind in money_back_facts.MONEY_BACK_KINDS} == {
        "refund": True,
        "refund_recorded": True,
        "dispute_opened": True,
        "dispute_won": True,
        "dispute_lost": True,
    }
    job_id = paid_job(ctx, market)
    refund_told(ctx, job_id, 5000, refund_id="re_kinds")
    dispute_told(ctx, job_id, 15000, dispute_id="dp_kinds")
    dispute_told(ctx, job_id, 15000, dispute_id="dp_kinds", status="won")
    with session_scope(ctx.readers) as session:
        kinds = set(session.scalars(select(Notification.kind).where(Notification.job_id == job_id)))
        queued = sorted(
            (row.kind, row.to_address)
            for row in session.scalars(select(EmailMessage).where(EmailMessage.job_id == job_id))
        )
    assert kinds == {"refund", "refund_recorded", "dispute_opened", "dispute_won"}
    assert all(is_emailed(kind) for kind in kinds)
    assert queued == [
        ("dispute_opened", PROVIDER),
        ("dispute_won", PROVIDER),
        ("refund", CUSTOMER),
        ("refund_recorded", PROVIDER),
    ]


def test_a_partial_refund_emails_its_own_amount_and_what_is_still_paid(
    ctx: AppContext, market: Market
) -> None:
    job_id = paid_job(ctx, market, 20000)
    refund_told(ctx, job_id, 5000, refund_id="re_part", memo=f"Late arrival\n{MARKUP}")

    customer = only(ctx, job_id, "refund")
    assert customer.subject == f"Refund of $50.00 for job #{job_id} (Plumbing)"
    for said in (
        "Hello Ann Lee,",
        f"We have refunded $50.00 for job #{job_id} (Plumbing) by Rivera Plumbing.",
        "You have now paid $150.00 for this job (of the $200.00 you paid).",
        "It goes back the way you paid; banks usually take 5–10 business days to show it.",
        f"Reason: Late arrival\n{MARKUP}",
        "Refunded: $50.00",
    ):
        assert said in customer.text, said
    assert "$200.00 " not in customer.subject
    provider = only(ctx, job_id, "refund_recorded")
    assert provider.subject == f"Refund of $50.00 on job #{job_id} (Plumbing)"
    assert provider.text.startswith("Hello Rivera Plumbing,\n")
    assert "Ann Lee has been refunded $50.00 of the $200.00 paid" in provider.text
    assert "It comes off your earnings: you keep $150.00 for this job." in provider.text
    for email in (customer, provider):
        # The memo is the characters written: escaped in HTML, never markup.
        assert "<script>" not in email.html and "<b>bold</b>" not in email.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in email.html
        assert 'href="https://evil.example' not in email.html
        assert MARKUP in email.text


def test_each_refund_email_gives_its_own_refund_and_the_last_says_refunded_in_full(
    ctx: AppContext, market: Market
) -> None:
    job_id = paid_job(ctx, market, 20000)
    refund_told(ctx, job_id, 5000, refund_id="re_first")
    refund_told(ctx, job_id, 3000, refund_id="re_second")
    refund_told(ctx, job_id, 12000, refund_id="re_rest")

    subjects = [email.subject for _, email in emails(ctx, job_id, "refund")]
    assert subjects == [
        f"Refund of {amount} for job #{job_id} (Plumbing)"
        for amount in ("$50.00", "$30.00", "$120.00")
    ]
    *_, (_, last) = emails(ctx, job_id, "refund")
    assert "Your payment is now refunded in full." in last.text
    assert "Refunded: $120.00" in last.text and "Reason" not in last.text
    *_, (_, told_provider) = emails(ctx, job_id, "refund_recorded")
    assert "the job no longer counts among your paid jobs" in told_provider.text
    # The notifications say the same amounts, in the dashboard and the API.
    with session_scope(ctx.readers) as session:
        titles = session.scalars(
            select(Notification.title)
            .where(Notification.job_id == job_id, Notification.kind == "refund_recorded")
            .order_by(Notification.id)
        ).all()
    assert titles == [f"Refund of {a} on job #{job_id}" for a in ("$50.00", "$30.00", "$120.00")]


def test_a_memo_learnt_after_the_refund_is_in_its_email(ctx: AppContext, market: Market) -> None:
    """The refund's own event comes first, without the memo; the credit note's brings it
    after the notification was written. The e-mail, read when sent, has it."""
    job_id = paid_job(ctx, market)
    refund_told(ctx, job_id, 5000, refund_id="re_memo_later")
    assert "Reason" not in only(ctx, job_id, "refund").text
    with session_scope(ctx.sessions) as session:
        refund = session.get(StripeRefund, "re_memo_later")
        assert refund is not None
        money_back.record_refund(
            session,
            refund_id=refund.refund_id,
            job_id=job_id,
            payment_id=refund.payment_id,
            amount=5000,
            currency="usd",
            status="succeeded",
            created=refund.created,
            credit_note_id="cn_memo_later",
            memo="Scratched the floor",
        )
    assert "Reason: Scratched the floor" in only(ctx, job_id, "refund").text
    assert "Reason: Scratched the floor" in only(ctx, job_id, "refund_recorded").text


@pytest.mark.parametrize(
    ("ending", "subject_end", "said"),
    [
        ("won", "$90.00 released", "The $90.00 held is released, and your earnings are unchanged."),
        ("lost", "$90.00 taken off your earnings", "$90.00 has been taken off your earnings."),
    ],
)
def test_a_dispute_tells_the_provider_what_is_held_until_when_and_how_it_ended(
    ctx: AppContext, market: Market, ending: str, subject_end: str, said: str
) -> None:
    job_id = paid_job(ctx, market, 9000)
    due = datetime(2026, 12, 20, 23, 59, tzinfo=UTC)
    dispute_told(ctx, job_id, 9000, dispute_id="dp_mail", evidence_due_by=due)
    opened = only(ctx, job_id, "dispute_opened")
    assert opened.subject == f"Payment disputed on job #{job_id} (Plumbing): $90.00 held"
    assert opened.text.startswith("Hello Rivera Plumbing,\n")
    for fact in (
        "Ann Lee's bank has disputed the payment",
        "$90.00 is held until the bank decides.",
        "Your earnings do not change meanwhile",
        "we answer the dispute with the job's records by December 20, 2026",
        "if it decides for the customer, $90.00 comes off your earnings",
        "Held: $90.00",
    ):
        assert fact in opened.text, fact
    with session_scope(ctx.readers) as session:
        body = session.scalars(
            select(Notification.body).where(Notification.kind == "dispute_opened")
        ).one()
    assert "by December 20, 2026" in body

    dispute_told(ctx, job_id, 9000, dispute_id="dp_mail", status=ending)
    closed = only(ctx, job_id, f"dispute_{ending}")
    assert closed.subject == f"Dispute {ending} on job #{job_id} (Plumbing): {subject_end}"
    assert said in closed.text


def test_without_its_refund_the_email_says_the_notifications_own_words(
    ctx: AppContext, market: Market
) -> None:
    """A notification no refund row fits (written by hand, say) is never sent with the
    payment's amount as if it were the refund's."""
    job_id = paid_job(ctx, market, 20000)
    with session_scope(ctx.sessions) as session:
        note = Notification(
            recipient_kind="customer",
            recipient_id=market.customer_id,
            kind="refund",
            title="Refund of $20.00 for Plumbing",
            body="We have refunded $20.00.",
            job_id=job_id,
        )
        session.add(note)
        session.flush()
        session.add(
            EmailMessage(
                message_key=f"notification:{note.id}",
                kind="refund",
                notification_id=note.id,
                job_id=job_id,
                to_address=CUSTOMER,
            )
        )
    email = only(ctx, job_id, "refund")
    assert email.subject == f"Refund of $20.00 for Plumbing (job #{job_id})"
    assert "We have refunded $20.00." in email.text
    assert "$200.00" not in email.text and "$200.00" not in email.html


# Through the sandbox, to an SMTP server


class Clock:
    """The delivery worker's time: a minute ahead, so what was queued is due."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


def test_a_refund_through_stripe_sends_one_email_to_each_side_through_duplicates(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    smtp: SmtpServer,
) -> None:
    sandbox.chaos(duplicate=1.0, reorder=1.0, max_delay=0.2, seed=5)
    job_id = job_for(ctx, market, 20000)
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", market.provider_id))
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0
    ctx.gateway.refund_by_credit_note(
        result.invoice.invoice_id,
        refund_amount=5000,
        idempotency_key=f"t-mail-refund:{job_id}",
        memo=f"Late arrival {MARKUP}",
    )
    assert sandbox.drain(timeout=20) == 0

    ctx.settings.smtp_url = SecretStr(smtp.url)
    worker = DeliveryWorker(ctx.sessions, ctx.readers, ctx.settings.smtp, MAIL_FROM, clock=Clock())
    report = worker.deliver_due()
    assert report.failed == 0 and report.retrying == 0, report

    refunds = [m for m in smtp.messages if "Refund of" in str(m["Subject"])]
    assert sorted((str(m["To"]), str(m["Subject"])) for m in refunds) == [
        (CUSTOMER, f"Refund of $50.00 for job #{job_id} (Plumbing)"),
        (PROVIDER, f"Refund of $50.00 on job #{job_id} (Plumbing)"),
    ]
    for message in refunds:
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        assert f"Reason: Late arrival {MARKUP}" in text.get_content()
        assert "<script>" not in html.get_content()
    to_customer = next(m for m in refunds if str(m["To"]) == CUSTOMER).get_body(("plain",))
    assert to_customer is not None
    assert "You have now paid $150.00 for this job" in to_customer.get_content()
    assert worker.deliver_due().claimed == 0
    assert len([m for m in smtp.messages if "Refund of" in str(m["Subject"])]) == 2
