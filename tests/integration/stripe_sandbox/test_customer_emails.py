"""The e-mails Stripe sends in live mode, which the sandbox sends to the SMTP server it is
given: the invoice on `send`, the receipt after a card payment, and nothing otherwise."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import stripe

from tests.support.sandbox import SandboxControl, running_sandbox
from tests.support.smtp import RecordingHandler, SmtpServer, free_port

ACCOUNT = "Bob's <b>Plumbing</b> & Co"
MEMO = "Thanks! <script>alert(1)</script>"


class AnnouncingHandler(RecordingHandler):
    """Records as its parent does, and wakes whoever waits for a message."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.arrived:
            self.arrived.notify_all()
        return reply


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.handler = AnnouncingHandler()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mailing_sandbox(smtp: SmtpServer) -> Iterator[SandboxControl]:
    with running_sandbox("--smtp", smtp.url, "--account-name", ACCOUNT) as base:
        control = SandboxControl(base)
        yield control
        control.http.close()


def wait_for_messages(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    """The messages once there are `count` (the sandbox sends from a thread of its own)."""
    handler = smtp.handler
    assert isinstance(handler, AnnouncingHandler)
    with handler.arrived:
        handler.arrived.wait_for(lambda: len(smtp.messages) >= count, timeout=10)
    return smtp.messages


def open_invoice(sandbox: SandboxControl, email: str) -> stripe.Invoice:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann Example", "email": email})
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "description": MEMO,
            "custom_fields": [{"name": "Job", "value": "#42 <drain>"}],
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
    )
    return client.v1.invoices.finalize_invoice(invoice.id)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_send_emails_the_invoice_with_its_link_and_escaped_html(
    mailing_sandbox: SandboxControl, smtp: SmtpServer
) -> None:
    before = len(smtp.messages)
    invoice = open_invoice(mailing_sandbox, "ann.invoice@example.com")
    sent = mailing_sandbox.client.v1.invoices.send_invoice(invoice.id)
    # Sent in order: the first to arrive is the invoice, so finalizing sent nothing.
    message = wait_for_messages(smtp, before + 1)[before]

    assert message["To"] == "ann.invoice@example.com"
    assert message["Subject"] == f"New invoice from {ACCOUNT}"
    text, html = parts(message)
    link = sent.hosted_invoice_url
    assert link is not None
    assert "Amount due: $150.00" in text
    assert f"Pay now: {link}" in text and f"View invoice: {link}" in text
    assert MEMO in text and "Job: #42 <drain>" in text
    assert f'href="{link}"' in html and "Pay now" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Plumbing</b>" not in html and "&lt;drain&gt;" in html


def test_a_card_payment_sends_the_receipt_and_a_decline_sends_none(
    mailing_sandbox: SandboxControl, smtp: SmtpServer
) -> None:
    client = mailing_sandbox.client
    mailing_sandbox.advance_clock(3 * 86400)  # a demo's clock, ahead of real time
    invoice = open_invoice(mailing_sandbox, "ann.receipt@example.com")
    before = len(smtp.messages)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa_chargeDeclined"})
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    messages = wait_for_messages(smtp, before + 1)
    assert [m["Subject"] for m in messages[before:]] == [f"Your receipt from {ACCOUNT}"]
    text, _ = parts(messages[before])
    assert messages[before]["To"] == "ann.receipt@example.com"
    paid_at = client.v1.invoices.retrieve(invoice.id).status_transitions.paid_at
    sent_at = messages[before]["Date"].datetime.timestamp()
    assert paid_at is not None and 0 <= sent_at - paid_at <= 5  # the sandbox's clock, not ours
    assert "Amount paid: $150.00" in text and f"View invoice: {invoice.hosted_invoice_url}" in text


def test_a_mail_server_that_is_down_fails_no_api_call(smtp: SmtpServer) -> None:
    with running_sandbox("--smtp", f"smtp://127.0.0.1:{free_port()}") as base:
        control = SandboxControl(base)
        invoice = open_invoice(control, "ann.down@example.com")
        sent = control.client.v1.invoices.send_invoice(invoice.id)
        assert sent.status == "open"
        paid = control.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
        assert paid.status == "paid"
        control.http.close()
