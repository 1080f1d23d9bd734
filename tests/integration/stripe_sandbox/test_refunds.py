"""Refunds made directly: full or partial, by PaymentIntent or Charge, never beyond the charge."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.support.receiver import Receiver
from tests.support.sandbox import SandboxControl


def paid_charge(sandbox: SandboxControl, amount: int = 15000) -> stripe.Charge:
    invoice = open_invoice(sandbox, amount)
    sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    return the_payment(sandbox, invoice.id)[1]


def test_partial_refunds_add_up_until_the_charge_is_refunded(sandbox: SandboxControl) -> None:
    charge = paid_charge(sandbox)
    client = sandbox.client
    first = client.v1.refunds.create(
        params={
            "payment_intent": str(charge.payment_intent),
            "amount": 5000,
            "reason": "requested_by_customer",
            "metadata": {"job_id": "42"},
        }
    )
    assert (first.status, first.amount, first.charge) == ("succeeded", 5000, charge.id)
    assert first.payment_intent == charge.payment_intent
    assert first.reason == "requested_by_customer"
    assert first.metadata is not None
    assert first.metadata.to_dict() == {"job_id": "42"}
    partly = client.v1.charges.retrieve(charge.id)
    assert (partly.amount_refunded, partly.refunded) == (5000, False)
    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 10000
    assert client.v1.refunds.retrieve(rest.id).amount == 10000
    whole = client.v1.charges.retrieve(charge.id)
    assert (whole.amount_refunded, whole.refunded) == (15000, True)


def test_a_refund_beyond_what_is_left_is_refused_and_changes_nothing(
    sandbox: SandboxControl,
) -> None:
    charge = paid_charge(sandbox)
    client = sandbox.client
    client.v1.refunds.create(params={"charge": charge.id, "amount": 10000})
    events_before = len(client.v1.events.list(params={"limit": 100}).data)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 5001})
    assert too_much.value.code == "amount_too_large"
    assert too_much.value.param == "amount"
    assert str(too_much.value.user_message) == (
        "Refund amount ($50.01) is greater than unrefunded amount on charge ($50.00)"
    )
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 10000
    assert len(client.v1.events.list(params={"limit": 100}).data) == events_before
    client.v1.refunds.create(params={"charge": charge.id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge.id})
    assert again.value.code == "charge_already_refunded"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "parameter_missing"),
        ({"charge": "ch_missing"}, "resource_missing"),
        ({"payment_intent": "pi_missing"}, "resource_missing"),
        ({"amount": 0}, None),
        ({"reason": "changed_mind"}, None),
    ],
)
def test_bad_refund_requests_are_refused(
    sandbox: SandboxControl, params: dict[str, object], code: str | None
) -> None:
    charge = paid_charge(sandbox)
    if "charge" not in params and "payment_intent" not in params and params:
        params = {"charge": charge.id, **params}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.refunds.create(params=params)  # type: ignore[arg-type]
    if code:
        assert refused.value.code == code
    assert sandbox.client.v1.charges.retrieve(charge.id).amount_refunded == 0


def test_each_refund_is_delivered_once_refund_then_charge_in_order(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    charge = paid_charge(sandbox)
    sandbox.client.v1.refunds.create(params={"charge": charge.id, "amount": 1000})
    sandbox.client.v1.refunds.create(params={"charge": charge.id, "amount": 2000})
    assert sandbox.drain() == 0
    ids = receiver.ids()
    assert len(ids) == len(set(ids))
    listed = reversed(list(sandbox.client.v1.events.list(params={"limit": 100})))
    money_back = [e for e in listed if e.type in ("refund.created", "charge.refunded")]
    assert [e.type for e in money_back] == ["refund.created", "charge.refunded"] * 2
    assert [e.data.object["amount"] for e in money_back[::2]] == [1000, 2000]
    assert [e.data.object["amount_refunded"] for e in money_back[1::2]] == [1000, 3000]
    previous = money_back[3].data.previous_attributes
    assert previous is not None and previous.to_dict() == {"amount_refunded": 1000}
    assert sorted(e.id for e in money_back) == sorted(
        e.id for e in receiver.events if e.type in ("refund.created", "charge.refunded")
    )


def test_a_retried_refund_with_the_same_idempotency_key_refunds_once(
    sandbox: SandboxControl,
) -> None:
    charge = paid_charge(sandbox)
    options: Any = {"idempotency_key": "refund-job-42"}
    first = sandbox.client.v1.refunds.create(
        params={"charge": charge.id, "amount": 1000}, options=options
    )
    again = sandbox.client.v1.refunds.create(
        params={"charge": charge.id, "amount": 1000}, options=options
    )
    assert again.id == first.id
    assert sandbox.client.v1.charges.retrieve(charge.id).amount_refunded == 1000
    refunded = sandbox.client.v1.events.list(params={"type": "charge.refunded"}).data
    assert len(refunded) == 1
