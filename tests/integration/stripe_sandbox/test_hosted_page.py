"""The hosted invoice page and PDF, driven with httpx as a browser would drive them."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from html import escape

import httpx
import pytest
import stripe

from tests.support.sandbox import SandboxControl

VISA = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
NEXT_YEAR = f"12/{(datetime.now(UTC).year + 1) % 100:02d}"


def open_invoice(sandbox: SandboxControl, description: str = "Drain cleaning") -> stripe.Invoice:
    client = sandbox.client
    customer = client.v1.customers.create(
        params={"name": "Ann Example", "email": "ann@example.com"}
    )
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": 15000,
            "description": description,
        }
    )
    return client.v1.invoices.finalize_invoice(invoice.id)


def page(sandbox: SandboxControl, invoice: stripe.Invoice) -> httpx.Response:
    assert invoice.hosted_invoice_url is not None
    return sandbox.http.get(invoice.hosted_invoice_url)


def pay_on_page(
    sandbox: SandboxControl,
    invoice_id: str,
    card_number: str,
    expiry: str = NEXT_YEAR,
    cvc: str = "123",
) -> httpx.Response:
    response = sandbox.http.post(
        f"/i/{invoice_id}/pay",
        data={"card_number": card_number, "expiry": expiry, "cvc": cvc, "name": "Ann Example"},
        follow_redirects=True,
    )
    assert [step.status_code for step in response.history] == [303]
    assert response.url.path == f"/i/{invoice_id}"
    assert response.status_code == 200
    return response


def notice(html: str) -> str | None:
    """The text of the page's alert banner, if it shows one."""
    found = re.search(r'<div class="notice (?:error|success)" role="alert">([^<]*)</div>', html)
    return found.group(1) if found else None


def status_label(html: str) -> str:
    found = re.search(r'<span class="status \w+">([^<]*)</span>', html)
    assert found is not None
    return found.group(1)


def event_ids(sandbox: SandboxControl) -> set[str]:
    return {event.id for event in sandbox.client.v1.events.list(params={"limit": 100}).data}


def test_page_shows_account_line_amount_due_date_and_status(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    response = page(sandbox, invoice)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Home Services Marketplace" in html
    assert "Drain cleaning" in html
    assert "<h1>$150.00</h1>" in html
    assert invoice.due_date is not None
    due = datetime.fromtimestamp(invoice.due_date, UTC)
    assert f"Due {due:%B} {due.day:02d}, {due.year}" in html
    assert status_label(html) == "Open"
    assert invoice.number is not None and invoice.number in html
    assert "Ann Example" in html
    assert f'<form method="post" action="/i/{invoice.id}/pay">' in html
    assert "Pay $150.00" in html
    assert notice(html) is None


def test_page_escapes_what_the_merchant_typed(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox, description='<script>alert("x")</script> & pipes')
    html = page(sandbox, invoice).text
    assert "<script>" not in html
    assert escape('<script>alert("x")</script> & pipes') in html


def test_declined_card_shows_decline_then_visa_pays_and_page_shows_paid(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    invoice = open_invoice(sandbox)

    declined = pay_on_page(sandbox, invoice.id, DECLINED)
    assert notice(declined.text) == "Your card was declined. Try another card."
    assert 'class="notice error"' in declined.text
    assert status_label(declined.text) == "Open"
    assert "<form" in declined.text  # the customer can try another card
    still_open = client.v1.invoices.retrieve(invoice.id)
    assert (still_open.status, still_open.amount_paid, still_open.amount_remaining) == (
        "open",
        0,
        15000,
    )
    assert (still_open.attempted, still_open.attempt_count) == (True, 1)
    failed = client.v1.events.list(params={"type": "invoice.payment_failed"}).data
    assert [event.data.object["id"] for event in failed] == [invoice.id]

    paid = pay_on_page(sandbox, invoice.id, VISA)
    assert notice(paid.text) == "Payment received. Thank you!"
    assert status_label(paid.text) == "Paid"
    assert "<strong>Paid</strong> on" in paid.text
    assert "<form" not in paid.text
    settled = client.v1.invoices.retrieve(invoice.id)
    assert (settled.status, settled.amount_paid, settled.amount_remaining) == ("paid", 15000, 0)
    assert settled.attempt_count == 2
    # Reloading the paid page (no query string) shows it paid, without a notice or a form.
    reloaded = page(sandbox, settled).text
    assert status_label(reloaded) == "Paid" and "<form" not in reloaded
    assert notice(reloaded) is None


def test_payment_on_the_page_makes_events_without_a_request(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    before = event_ids(sandbox)
    pay_on_page(sandbox, invoice.id, DECLINED)
    pay_on_page(sandbox, invoice.id, VISA)
    events = sandbox.client.v1.events.list(params={"limit": 100}).data
    from_page = [event for event in events if event.id not in before]
    assert sorted(event.type for event in from_page) == [
        "charge.succeeded",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.updated",
        "invoice.updated",
        "invoice_payment.paid",
        "payment_intent.created",
        "payment_intent.succeeded",
    ]
    assert all(event.request is not None for event in from_page)
    assert [(e.request.id, e.request.idempotency_key) for e in from_page if e.request] == [
        (None, None)
    ] * 9
    # Events from API calls do name their request.
    (finalized,) = sandbox.client.v1.events.list(params={"type": "invoice.finalized"}).data
    assert finalized.request is not None
    assert (finalized.request.id or "").startswith("req_")


@pytest.mark.parametrize(
    "card_number, expiry, cvc, message",
    [
        ("4242 4242 4242 4241", NEXT_YEAR, "123", "Your card number is incorrect."),
        ("4242 4242", NEXT_YEAR, "123", "Your card number is incorrect."),
        (VISA, "01/20", "123", "Your card's expiration year is in the past."),
        (VISA, "12/1999", "123", "Your card's expiration year is in the past."),
        (VISA, "13/30", "123", "Your card's expiration date is incomplete."),
        (VISA, NEXT_YEAR, "12", "Your card's security code is incomplete."),
        (VISA, NEXT_YEAR, "12345", "Your card's security code is incomplete."),
        (
            "4111 1111 1111 1111",
            NEXT_YEAR,
            "123",
            "The sandbox takes Stripe's test cards; try 4242 4242 4242 4242.",
        ),
    ],
    ids=[
        "luhn",
        "too-short",
        "past-expiry",
        "past-four-digit-year",
        "month-13",
        "short-cvc",
        "long-cvc",
        "not-a-test-card",
    ],
)
def test_bad_card_form_shows_its_message_and_changes_nothing(
    sandbox: SandboxControl, card_number: str, expiry: str, cvc: str, message: str
) -> None:
    invoice = open_invoice(sandbox)
    before = event_ids(sandbox)
    response = pay_on_page(sandbox, invoice.id, card_number, expiry, cvc)
    assert notice(response.text) == escape(message)
    assert status_label(response.text) == "Open"
    assert "<form" in response.text
    after = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempted, after.attempt_count, after.amount_paid) == (
        "open",
        False,
        0,
        0,
    )
    assert event_ids(sandbox) == before


def test_paying_a_paid_invoice_again_charges_nothing(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    pay_on_page(sandbox, invoice.id, VISA)
    before = event_ids(sandbox)
    again = pay_on_page(sandbox, invoice.id, VISA)
    assert notice(again.text) == "Invoice is already paid."
    assert status_label(again.text) == "Paid"
    assert event_ids(sandbox) == before
    assert sandbox.client.v1.invoices.retrieve(invoice.id).attempt_count == 1


def test_void_invoice_page_offers_no_payment(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    sandbox.client.v1.invoices.void_invoice(invoice.id)
    html = page(sandbox, invoice).text
    assert status_label(html) == "Void"
    assert "This invoice is void and cannot be paid." in html
    assert "<form" not in html
    before = event_ids(sandbox)
    refused = pay_on_page(sandbox, invoice.id, VISA)
    assert notice(refused.text) == "This invoice is void and can no longer be paid."
    assert event_ids(sandbox) == before
    assert sandbox.client.v1.invoices.retrieve(invoice.id).status == "void"


def test_uncollectible_invoice_can_still_be_paid_on_the_page(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    sandbox.client.v1.invoices.mark_uncollectible(invoice.id)
    html = page(sandbox, invoice).text
    assert status_label(html) == "Uncollectible"
    assert "<form" in html
    paid = pay_on_page(sandbox, invoice.id, VISA)
    assert status_label(paid.text) == "Paid"
    assert sandbox.client.v1.invoices.retrieve(invoice.id).status == "paid"


@pytest.mark.parametrize("suffix, method", [("", "GET"), ("/pay", "POST"), ("/pdf", "GET")])
def test_draft_or_unknown_invoice_is_not_found(
    sandbox: SandboxControl, suffix: str, method: str
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    draft = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 15000}
    )
    before = event_ids(sandbox)
    form = {"card_number": VISA, "expiry": NEXT_YEAR, "cvc": "123", "name": "Ann"}
    for invoice_id in (draft.id, "in_doesnotexist", "in_" + "x" * 24):
        response = sandbox.http.request(
            method, f"/i/{invoice_id}{suffix}", data=form if method == "POST" else None
        )
        assert response.status_code == 404, invoice_id
        assert "Invoice not found" in response.text
    assert client.v1.invoices.retrieve(draft.id).status == "draft"
    assert event_ids(sandbox) == before


def pdf_text(document: bytes) -> bytes:
    """The content streams of a PDF, inflated where they are compressed (zlib, standard lib)."""
    text = b""
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            text += zlib.decompress(stream)
        except zlib.error:
            text += stream
    return text


def test_invoice_pdf_is_a_pdf_of_the_invoice(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    assert invoice.invoice_pdf is not None and invoice.number is not None
    response = sandbox.http.get(invoice.invoice_pdf)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="Invoice-{invoice.number}.pdf"' in response.headers["content-disposition"]
    document = response.content
    assert document.startswith(b"%PDF-")
    assert document.rstrip().endswith(b"%%EOF")
    assert len(document) > 1000
    text = pdf_text(document)
    for shown in (invoice.number, "Home Services Marketplace", "Ann Example", "Drain cleaning"):
        assert f"({shown}) Tj".encode() in text, shown
    assert text.count(b"($150.00) Tj") == 3  # the line, the total, the amount remaining
    assert b"(OPEN) Tj" in text


def test_invoice_pdf_follows_the_invoice_state(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    pay_on_page(sandbox, invoice.id, VISA)
    assert invoice.invoice_pdf is not None
    text = pdf_text(sandbox.http.get(invoice.invoice_pdf).content)
    assert b"(PAID) Tj" in text
    assert b"($0.00) Tj" in text  # amount remaining


def test_a_crafted_link_cannot_make_the_page_claim_a_payment(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    crafted = sandbox.http.get(
        f"/i/{invoice.id}", params={"kind": "success", "notice": "Payment received. Thank you!"}
    )
    assert notice(crafted.text) is None
    assert status_label(crafted.text) == "Open"


def test_a_notice_token_shows_only_on_its_own_invoice(sandbox: SandboxControl) -> None:
    first, second = open_invoice(sandbox), open_invoice(sandbox)
    declined = pay_on_page(sandbox, first.id, DECLINED)
    token = declined.url.params["notice"]
    assert notice(declined.text) is not None
    other = sandbox.http.get(f"/i/{second.id}", params={"notice": token})
    assert notice(other.text) is None
