"""InvoicePayments: the one link from a PaymentIntent (and so a refund or dispute) to its
invoice, as Stripe's pinned API version has it: listed, retrieved, and shown on the invoice."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from tests.integration.stripe_sandbox.test_fidelity import AUTH, declared
from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.support.sandbox import SandboxControl


def paid(sandbox: SandboxControl, method: str = "pm_card_visa") -> stripe.Invoice:
    invoice = open_invoice(sandbox)
    return sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": method})


def by_intent(sandbox: SandboxControl, intent: str) -> list[stripe.InvoicePayment]:
    return sandbox.client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": intent}}
    ).data


def test_a_refund_is_traced_to_its_invoice_through_the_invoice_payment(
    sandbox: SandboxControl,
) -> None:
    invoice, other = paid(sandbox), paid(sandbox)
    _, charge = the_payment(sandbox, invoice.id)
    refund = sandbox.client.v1.refunds.create(params={"charge": charge.id, "amount": 500})
    assert refund.metadata is not None and refund.metadata.to_dict() == {}
    (payment,) = by_intent(sandbox, str(refund.payment_intent))
    assert (payment.invoice, payment.status, payment.amount_paid) == (invoice.id, "paid", 15000)
    assert payment.payment.type == "payment_intent" and payment.is_default
    (others,) = by_intent(sandbox, str(the_payment(sandbox, other.id)[0].id))
    assert others.invoice == other.id


def test_a_dispute_is_traced_to_its_invoice_through_the_invoice_payment(
    sandbox: SandboxControl,
) -> None:
    invoice = paid(sandbox, "pm_card_createDispute")
    (dispute,) = sandbox.client.v1.disputes.list().data
    assert dispute.metadata.to_dict() == {}
    (payment,) = by_intent(sandbox, str(dispute.payment_intent))
    assert payment.invoice == invoice.id


def test_the_invoice_shows_the_same_invoice_payment_that_is_listed_and_retrieved(
    sandbox: SandboxControl,
) -> None:
    invoice = paid(sandbox)
    client = sandbox.client
    shown = client.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]})
    assert shown.payments is not None
    (included,) = shown.payments.data
    (listed,) = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    retrieved = client.v1.invoice_payments.retrieve(included.id)
    assert included.to_dict() == listed.to_dict() == retrieved.to_dict()
    assert retrieved.status_transitions.paid_at == shown.status_transitions.paid_at
    expanded = client.v1.invoice_payments.retrieve(included.id, params={"expand": ["invoice"]})
    assert isinstance(expanded.invoice, stripe.Invoice) and expanded.invoice.id == invoice.id


def test_every_field_the_sdk_declares_on_an_invoice_payment_is_sent(
    sandbox: SandboxControl,
) -> None:
    invoice = paid(sandbox)
    (raw,) = sandbox.http.get(
        "/v1/invoice_payments", params={"invoice": invoice.id}, headers=AUTH
    ).json()["data"]
    assert sorted(declared(stripe.InvoicePayment) - set(raw)) == []
    assert sorted(declared(stripe.InvoicePayment.Payment) - set(raw["payment"])) == []
    assert (
        sorted(declared(stripe.InvoicePayment.StatusTransitions) - set(raw["status_transitions"]))
        == []
    )
    assert (raw["payment"]["charge"], raw["payment"]["payment_record"]) == (None, None)
    assert raw["status_transitions"]["canceled_at"] is None


def test_lists_filter_by_invoice_status_and_created_newest_first(
    sandbox: SandboxControl,
) -> None:
    first = paid(sandbox)
    sandbox.advance_clock(3600)
    second = paid(sandbox)
    client = sandbox.client
    newest, oldest = client.v1.invoice_payments.list().data
    assert (newest.invoice, oldest.invoice) == (second.id, first.id)
    since = client.v1.invoice_payments.list(params={"created": {"gt": oldest.created}}).data
    assert [p.invoice for p in since] == [second.id]
    assert [p.invoice for p in client.v1.invoice_payments.list(params={"status": "paid"})] == [
        second.id,
        first.id,
    ]
    assert client.v1.invoice_payments.list(params={"status": "open"}).data == []
    page = client.v1.invoice_payments.list(params={"limit": 1, "starting_after": newest.id})
    assert [p.id for p in page.data] == [oldest.id] and not page.has_more


def test_paid_out_of_band_leaves_no_invoice_payment(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox)
    sandbox.client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert sandbox.client.v1.invoice_payments.list(params={"invoice": invoice.id}).data == []
    assert sandbox.client.v1.events.list(params={"type": "invoice_payment.paid"}).data == []


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"payment": {"payment_intent": "pi_1"}}, "payment[type]", "parameter_missing"),
        ({"payment": {"type": "charge"}}, "payment[type]", None),
        (
            {"payment": {"type": "payment_record", "payment_intent": "pi_1"}},
            "payment[payment_intent]",
            None,
        ),
        ({"payment": {"type": "payment_intent", "charge": "ch_1"}}, None, "parameter_unknown"),
        ({"status": "succeeded"}, "status", None),
        ({"customer": "cus_1"}, "customer", "parameter_unknown"),
        ({"starting_after": "inpay_missing"}, "starting_after", "resource_missing"),
    ],
)
def test_bad_invoice_payment_filters_are_refused(
    sandbox: SandboxControl, params: dict[str, Any], param: str | None, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.invoice_payments.list(params=cast(Any, params))
    assert refused.value.http_status == 400
    if param is not None:
        assert refused.value.param == param
    if code is not None:
        assert refused.value.code == code


def test_an_unknown_invoice_payment_is_stripes_404(sandbox: SandboxControl) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="No such invoice_payment") as missing:
        sandbox.client.v1.invoice_payments.retrieve("inpay_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
