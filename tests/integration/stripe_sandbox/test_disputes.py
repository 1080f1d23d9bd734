"""Disputes: the dispute test card pays, then the payment is disputed and closed by evidence."""

from __future__ import annotations

import pytest
import stripe

from tests.integration.stripe_sandbox.test_hosted_page import pay_on_page
from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.support.receiver import Receiver
from tests.support.sandbox import SandboxControl

DISPUTE_CARD = "4000 0000 0000 0259"


def disputed(sandbox: SandboxControl, *, on_page: bool = False) -> stripe.Dispute:
    invoice = open_invoice(sandbox)
    if on_page:
        pay_on_page(sandbox, invoice.id, DISPUTE_CARD)
    else:
        sandbox.client.v1.invoices.pay(
            invoice.id, params={"payment_method": "pm_card_createDispute"}
        )
    assert sandbox.client.v1.invoices.retrieve(invoice.id).status == "paid"
    (opened,) = sandbox.client.v1.events.list(params={"type": "charge.dispute.created"}).data
    return sandbox.client.v1.disputes.retrieve(opened.data.object["id"])


@pytest.mark.parametrize("on_page", [False, True])
def test_the_dispute_card_pays_and_then_opens_a_dispute_on_the_charge(
    sandbox: SandboxControl, on_page: bool
) -> None:
    dispute = disputed(sandbox, on_page=on_page)
    (invoice,) = sandbox.client.v1.invoices.list().data
    _, charge = the_payment(sandbox, invoice.id)
    assert (dispute.status, dispute.amount, dispute.charge) == ("needs_response", 15000, charge.id)
    assert dispute.payment_intent == charge.payment_intent
    assert dispute.metadata.to_dict() == {}  # Stripe copies no invoice metadata
    assert charge.disputed
    assert dispute.evidence_details.due_by is not None
    assert dispute.evidence_details.due_by > dispute.created


@pytest.mark.parametrize(
    "text, status, closing",
    [
        ("winning_evidence", "won", ["charge.dispute.closed", "charge.dispute.funds_reinstated"]),
        ("losing_evidence", "lost", ["charge.dispute.closed"]),
    ],
)
def test_evidence_closes_the_dispute_won_or_lost_with_events_in_order(
    sandbox: SandboxControl, receiver: Receiver, text: str, status: str, closing: list[str]
) -> None:
    dispute = disputed(sandbox)
    saved = sandbox.client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "receipt"}, "submit": False}
    )
    assert saved.status == "needs_response" and saved.evidence_details.has_evidence
    closed = sandbox.client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": text}, "submit": True}
    )
    assert closed.status == status
    assert closed.evidence_details.submission_count == 1
    assert sandbox.drain() == 0
    listed = reversed(list(sandbox.client.v1.events.list(params={"limit": 100})))
    types = [e.type for e in listed if e.type.startswith("charge.dispute")]
    assert types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        *closing,
    ]
    received = [t for t in receiver.types() if t.startswith("charge.dispute")]
    assert sorted(received) == sorted(types)


def test_other_evidence_leaves_it_under_review_and_a_closed_dispute_is_final(
    sandbox: SandboxControl,
) -> None:
    dispute = disputed(sandbox)
    reviewed = sandbox.client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "the work was done"}}
    )
    assert reviewed.status == "under_review"
    sandbox.client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "losing_evidence"}}
    )
    with pytest.raises(stripe.InvalidRequestError, match="already closed"):
        sandbox.client.v1.disputes.update(
            dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
        )
    assert sandbox.client.v1.disputes.retrieve(dispute.id).status == "lost"


def test_a_disputed_charge_cannot_be_refunded_directly_or_by_credit_note(
    sandbox: SandboxControl,
) -> None:
    dispute = disputed(sandbox)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.refunds.create(params={"charge": str(dispute.charge)})
    assert refused.value.code == "charge_disputed"
    (invoice,) = sandbox.client.v1.invoices.list().data
    with pytest.raises(stripe.InvalidRequestError, match="charged back"):
        sandbox.client.v1.credit_notes.create(
            params={"invoice": invoice.id, "amount": 100, "refund_amount": 100}
        )
    assert sandbox.client.v1.credit_notes.list().data == []
    assert sandbox.client.v1.charges.retrieve(str(dispute.charge)).amount_refunded == 0
