"""The payment behind a paid invoice: a PaymentIntent and a Charge, tied to the invoice by
its InvoicePayment (shown on the invoice) and carrying none of the invoice's metadata."""

from __future__ import annotations

import pytest
import stripe

from tests.integration.stripe_sandbox.test_hosted_page import VISA, pay_on_page
from tests.support.sandbox import SandboxControl


def open_invoice(sandbox: SandboxControl, amount: int = 15000) -> stripe.Invoice:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann", "email": "ann@example.com"})
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "metadata": {"job_id": "42"},
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": amount}
    )
    return client.v1.invoices.finalize_invoice(invoice.id)


def the_payment(
    sandbox: SandboxControl, invoice_id: str
) -> tuple[stripe.PaymentIntent, stripe.Charge]:
    client = sandbox.client
    invoice = client.v1.invoices.retrieve(invoice_id, params={"expand": ["payments"]})
    assert invoice.payments is not None
    (payment,) = invoice.payments.data
    assert payment.invoice == invoice_id
    assert payment.payment.type == "payment_intent"
    assert isinstance(payment.payment.payment_intent, str)
    intent = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert isinstance(intent.latest_charge, str)
    return intent, client.v1.charges.retrieve(intent.latest_charge)


@pytest.mark.parametrize("where", ["api", "hosted page"])
def test_paying_an_invoice_leaves_a_succeeded_intent_and_charge_without_its_metadata(
    sandbox: SandboxControl, where: str
) -> None:
    invoice = open_invoice(sandbox)
    if where == "api":
        sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    else:
        pay_on_page(sandbox, invoice.id, VISA)
    intent, charge = the_payment(sandbox, invoice.id)
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 15000, 15000)
    assert (charge.status, charge.amount, charge.amount_captured) == ("succeeded", 15000, 15000)
    assert charge.paid and charge.captured and not charge.refunded
    assert charge.payment_intent == intent.id
    assert intent.customer == charge.customer == invoice.customer
    assert intent.currency == charge.currency == "usd"
    # Stripe copies no invoice metadata onto them, and names no invoice on either.
    assert intent.metadata.to_dict() == charge.metadata.to_dict() == {}
    assert "invoice" not in intent and "invoice" not in charge


def test_an_invoice_shows_payments_only_when_asked_and_none_before_it_is_paid(
    sandbox: SandboxControl,
) -> None:
    invoice = open_invoice(sandbox)
    assert "payments" not in sandbox.client.v1.invoices.retrieve(invoice.id)
    unpaid = sandbox.client.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]})
    assert unpaid.payments is not None and unpaid.payments.data == []


@pytest.mark.parametrize("method", ["pm_card_visa_chargeDeclined", None])
def test_a_declined_or_out_of_band_payment_creates_no_charge(
    sandbox: SandboxControl, method: str | None
) -> None:
    invoice = open_invoice(sandbox)
    if method is None:
        sandbox.client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    else:
        with pytest.raises(stripe.CardError):
            sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    shown = sandbox.client.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]})
    assert shown.payments is not None and shown.payments.data == []
    types = [event.type for event in sandbox.client.v1.events.list(params={"limit": 100})]
    assert not any(t.startswith(("charge.", "payment_intent.", "invoice_payment.")) for t in types)
    assert sandbox.client.v1.invoice_payments.list(params={"invoice": invoice.id}).data == []


@pytest.mark.parametrize("where", ["api", "hosted page"])
def test_payment_events_come_in_stripes_order_before_the_invoice_is_paid(
    sandbox: SandboxControl, where: str
) -> None:
    invoice = open_invoice(sandbox)
    after = sandbox.client.v1.events.list(params={"limit": 1}).data[0].id
    if where == "api":
        sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    else:
        pay_on_page(sandbox, invoice.id, VISA)
    events = sandbox.client.v1.events.list(params={"limit": 100, "ending_before": after})
    assert [event.type for event in reversed(events.data)] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.updated",
    ]
    paid = next(event for event in events if event.type == "invoice_payment.paid")
    payment = paid.data.object
    assert (payment["object"], payment["invoice"], payment["status"]) == (
        "invoice_payment",
        invoice.id,
        "paid",
    )
    intent, _ = the_payment(sandbox, invoice.id)
    assert payment["payment"]["payment_intent"] == intent.id


def test_unknown_intent_or_charge_is_stripes_404(sandbox: SandboxControl) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sandbox.client.v1.payment_intents.retrieve("pi_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError, match="No such charge: 'ch_missing'"):
        sandbox.client.v1.charges.retrieve("ch_missing")
