"""Payments, refunds, credit notes and disputes survive a restart with `--data FILE`, and a
file saved before InvoicePayments were objects of their own still loads them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.support.sandbox import SandboxControl, running_sandbox


def test_money_moved_back_is_kept_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        client = control.client
        paid = open_invoice(control)
        client.v1.invoices.pay(paid.id, params={"payment_method": "pm_card_visa"})
        refund = client.v1.refunds.create(
            params={"charge": the_payment(control, paid.id)[1].id, "amount": 1000}
        )
        note = client.v1.credit_notes.create(
            params={"invoice": paid.id, "amount": 2000, "refund_amount": 2000}
        )
        disputed = open_invoice(control)
        client.v1.invoices.pay(disputed.id, params={"payment_method": "pm_card_createDispute"})
        (opened,) = client.v1.events.list(params={"type": "charge.dispute.created"}).data
        dispute_id = opened.data.object["id"]
        control.http.close()

    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        client = control.client
        intent, charge = the_payment(control, paid.id)
        assert (charge.amount_refunded, intent.status) == (3000, "succeeded")
        assert client.v1.refunds.retrieve(refund.id).amount == 1000
        kept = client.v1.credit_notes.retrieve(note.id)
        assert (kept.amount, kept.type) == (2000, "post_payment")
        invoice = client.v1.invoices.retrieve(paid.id)
        assert invoice.post_payment_credit_notes_amount == 2000
        # What is left to refund is still known: 15000 - 3000.
        rest = client.v1.refunds.create(params={"charge": charge.id})
        assert rest.amount == 12000
        assert client.v1.disputes.retrieve(dispute_id).status == "needs_response"
        won = client.v1.disputes.update(
            dispute_id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
        )
        assert won.status == "won"
        control.http.close()


def test_a_file_saved_before_invoice_payments_were_objects_keeps_them(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        paid = open_invoice(control)
        control.client.v1.invoices.pay(paid.id, params={"payment_method": "pm_card_visa"})
        intent, _ = the_payment(control, paid.id)
        control.http.close()
    # The earlier layout: the invoice kept its payments (newest first) in `_payments`.
    state = json.loads(data.read_text())
    (payment,) = state["objects"].pop("invoice_payment")
    del state["order"]["invoice_payment"]
    (invoice,) = state["objects"]["invoice"]
    del invoice["_payment_ids"]
    payment["payment"] = {"type": "payment_intent", "payment_intent": intent.id}
    invoice["_payments"] = {"object": "list", "data": [payment], "has_more": False}
    data.write_text(json.dumps(state))

    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        client = control.client
        assert the_payment(control, paid.id)[0].id == intent.id
        found = client.v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": intent.id}}
        )
        assert [(p.id, p.invoice, p.payment.charge) for p in found] == [
            (payment["id"], paid.id, None)
        ]
        note = client.v1.credit_notes.create(
            params={"invoice": paid.id, "amount": 1000, "refund_amount": 1000}
        )
        assert note.refunds[0].amount_refunded == 1000
        control.http.close()
