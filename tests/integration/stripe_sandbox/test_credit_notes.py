"""Credit notes: before payment they lower what is owed, after it they refund or credit."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.support.receiver import Receiver
from tests.support.sandbox import SandboxControl


def paid_invoice(sandbox: SandboxControl) -> stripe.Invoice:
    invoice = open_invoice(sandbox)
    return sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})


def create(sandbox: SandboxControl, **params: Any) -> stripe.CreditNote:
    return sandbox.client.v1.credit_notes.create(params=cast(Any, params))


def event_count(sandbox: SandboxControl) -> int:
    return len(sandbox.client.v1.events.list(params={"limit": 100}).data)


def test_pre_payment_notes_lower_what_is_owed_until_the_invoice_is_paid(
    sandbox: SandboxControl,
) -> None:
    invoice = open_invoice(sandbox)
    first = create(sandbox, invoice=invoice.id, amount=5000, reason="order_change", memo="Less")
    assert (first.type, first.status, first.amount, first.pre_payment_amount) == (
        "pre_payment",
        "issued",
        5000,
        5000,
    )
    assert first.number == f"{invoice.number}-CN-01"
    after = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_remaining, after.pre_payment_credit_notes_amount) == (10000, 5000)
    assert after.status == "open"
    create(sandbox, invoice=invoice.id, amount=10000)
    settled = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (settled.status, settled.amount_remaining) == ("paid", 0)
    assert settled.pre_payment_credit_notes_amount == 15000


def test_a_post_payment_refund_note_refunds_the_charge_without_the_invoice_metadata(
    sandbox: SandboxControl,
) -> None:
    invoice = paid_invoice(sandbox)
    note = create(sandbox, invoice=invoice.id, amount=4000, refund_amount=4000, reason="duplicate")
    assert (note.type, note.post_payment_amount, note.pre_payment_amount) == (
        "post_payment",
        4000,
        0,
    )
    (part,) = note.refunds
    assert part.amount_refunded == 4000
    refund = sandbox.client.v1.refunds.retrieve(str(part.refund))
    _, charge = the_payment(sandbox, invoice.id)
    assert (refund.amount, refund.charge, refund.reason) == (4000, charge.id, "duplicate")
    assert refund.metadata is not None and refund.metadata.to_dict() == {}
    assert (charge.amount_refunded, charge.refunded) == (4000, False)
    shown = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (shown.post_payment_credit_notes_amount, shown.amount_paid) == (4000, 15000)
    assert shown.status == "paid"


def test_parts_of_a_post_payment_note_add_up_and_credit_goes_onto_the_balance(
    sandbox: SandboxControl,
) -> None:
    invoice = paid_invoice(sandbox)
    create(
        sandbox,
        invoice=invoice.id,
        amount=3000,
        refund_amount=1000,
        credit_amount=1500,
        out_of_band_amount=500,
    )
    create(sandbox, invoice=invoice.id, amount=2000)  # none named: all to the balance
    assert sandbox.client.v1.customers.retrieve(str(invoice.customer)).balance == -3500
    _, charge = the_payment(sandbox, invoice.id)
    assert charge.amount_refunded == 1000
    notes = sandbox.client.v1.credit_notes.list(params={"invoice": invoice.id}).data
    assert [n.amount for n in notes] == [2000, 3000]
    assert [n.out_of_band_amount for n in notes] == [None, 500]
    assert sandbox.client.v1.invoices.retrieve(invoice.id).post_payment_credit_notes_amount == 5000


def test_lines_make_up_the_amount(sandbox: SandboxControl) -> None:
    invoice = paid_invoice(sandbox)
    assert invoice.lines is not None
    note = create(
        sandbox,
        invoice=invoice.id,
        lines=[
            {
                "type": "invoice_line_item",
                "invoice_line_item": invoice.lines.data[0].id,
                "amount": 2500,
            },
            {
                "type": "custom_line_item",
                "description": "Goodwill",
                "unit_amount": 700,
                "quantity": 2,
            },
        ],
        refund_amount=3900,
    )
    assert note.amount == 3900
    assert [(x.type, x.amount) for x in note.lines.data] == [
        ("invoice_line_item", 2500),
        ("custom_line_item", 1400),
    ]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"amount": 15001}, "greater than the amount left to credit"),
        ({"amount": 5000, "refund_amount": 4000}, "must equal the credit note amount"),
        ({"amount": 14000, "refund_amount": 14000}, "greater than unrefunded amount"),
        (
            {"lines": [{"type": "invoice_line_item", "invoice_line_item": "il_missing"}]},
            "No such invoice line item",
        ),
        ({}, "positive total"),
    ],
)
def test_a_note_that_does_not_fit_is_refused_and_changes_nothing(
    sandbox: SandboxControl, params: dict[str, Any], message: str
) -> None:
    invoice = paid_invoice(sandbox)
    _, charge = the_payment(sandbox, invoice.id)
    sandbox.client.v1.refunds.create(params={"charge": charge.id, "amount": 2000})
    before_events = event_count(sandbox)
    with pytest.raises(stripe.InvalidRequestError, match=message) as refused:
        create(sandbox, invoice=invoice.id, **params)
    assert refused.value.http_status == 400
    assert sandbox.client.v1.credit_notes.list().data == []
    assert sandbox.client.v1.charges.retrieve(charge.id).amount_refunded == 2000
    shown = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert shown.post_payment_credit_notes_amount == 0
    assert sandbox.client.v1.customers.retrieve(str(invoice.customer)).balance == 0
    assert event_count(sandbox) == before_events


def test_refund_parts_need_a_stripe_payment_and_notes_need_an_open_or_paid_invoice(
    sandbox: SandboxControl,
) -> None:
    out_of_band = open_invoice(sandbox)
    sandbox.client.v1.invoices.pay(out_of_band.id, params={"paid_out_of_band": True})
    with pytest.raises(stripe.InvalidRequestError, match="not paid through Stripe"):
        create(sandbox, invoice=out_of_band.id, amount=100, refund_amount=100)
    voided = open_invoice(sandbox)
    sandbox.client.v1.invoices.void_invoice(voided.id)
    with pytest.raises(stripe.InvalidRequestError, match="open or paid invoices"):
        create(sandbox, invoice=voided.id, amount=100)
    with pytest.raises(stripe.InvalidRequestError, match="paid invoice"):
        create(sandbox, invoice=open_invoice(sandbox).id, amount=100, refund_amount=100)
    assert sandbox.client.v1.credit_notes.list().data == []


def test_preview_shows_the_note_without_issuing_it(sandbox: SandboxControl) -> None:
    invoice = paid_invoice(sandbox)
    before = event_count(sandbox)
    preview = sandbox.client.v1.credit_notes.preview(
        params={"invoice": invoice.id, "amount": 1000, "refund_amount": 1000}
    )
    assert (preview.amount, preview.type) == (1000, "post_payment")
    assert sandbox.client.v1.credit_notes.list().data == []
    assert event_count(sandbox) == before
    _, charge = the_payment(sandbox, invoice.id)
    assert charge.amount_refunded == 0


def test_voiding_a_note_gives_back_what_it_took_but_never_a_refund(
    sandbox: SandboxControl,
) -> None:
    invoice = open_invoice(sandbox)
    note = create(sandbox, invoice=invoice.id, amount=5000)
    voided = sandbox.client.v1.credit_notes.void_credit_note(note.id)
    assert voided.status == "void" and voided.voided_at is not None
    shown = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (shown.amount_remaining, shown.pre_payment_credit_notes_amount) == (15000, 0)
    with pytest.raises(stripe.InvalidRequestError, match="already void"):
        sandbox.client.v1.credit_notes.void_credit_note(note.id)
    paid = paid_invoice(sandbox)
    refunding = create(sandbox, invoice=paid.id, amount=1000, refund_amount=1000)
    with pytest.raises(stripe.InvalidRequestError, match="refund stands"):
        sandbox.client.v1.credit_notes.void_credit_note(refunding.id)
    credit = create(sandbox, invoice=paid.id, amount=1000)
    sandbox.client.v1.credit_notes.void_credit_note(credit.id)
    assert sandbox.client.v1.customers.retrieve(str(paid.customer)).balance == 0


def test_note_events_are_delivered_once_each_in_order(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    invoice = paid_invoice(sandbox)
    note = create(sandbox, invoice=invoice.id, amount=1000, refund_amount=1000)
    sandbox.client.v1.credit_notes.void_credit_note(
        create(sandbox, invoice=invoice.id, amount=500).id
    )
    assert sandbox.drain() == 0
    listed = reversed(list(sandbox.client.v1.events.list(params={"limit": 100})))
    wanted = ("refund.created", "charge.refunded", "credit_note.created", "credit_note.voided")
    shown = [e for e in listed if e.type in wanted]
    assert [e.type for e in shown] == [
        "refund.created",
        "charge.refunded",
        "credit_note.created",
        "credit_note.created",
        "credit_note.voided",
    ]
    assert shown[2].data.object["id"] == note.id
    received = [e.id for e in receiver.events if e.type in wanted]
    assert sorted(received) == sorted(e.id for e in shown)
