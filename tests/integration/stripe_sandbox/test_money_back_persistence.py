"""Payments, refunds, credit notes and disputes survive a restart with `--data FILE`."""

from __future__ import annotations

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
