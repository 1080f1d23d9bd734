"""Refunds, disputes and charges listed as Stripe lists them: newest first, by
PaymentIntent, charge or customer, and by `created` range, with Stripe's cursors."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from tests.integration.stripe_sandbox.test_payments import open_invoice, the_payment
from tests.integration.stripe_sandbox.test_refunds import paid_charge
from tests.support.sandbox import SandboxControl

HOUR = 3600


def test_refunds_are_listed_by_created_range_and_by_payment_intent(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    first, second = paid_charge(sandbox), paid_charge(sandbox)
    early = client.v1.refunds.create(params={"charge": first.id, "amount": 1000})
    sandbox.advance_clock(HOUR)
    late = client.v1.refunds.create(params={"charge": second.id, "amount": 2000})
    sandbox.advance_clock(HOUR)
    again = client.v1.refunds.create(params={"charge": first.id, "amount": 3000})

    def ids(**params: Any) -> list[str]:
        return [refund.id for refund in client.v1.refunds.list(params=cast(Any, params))]

    assert ids() == [again.id, late.id, early.id]
    assert ids(payment_intent=str(first.payment_intent)) == [again.id, early.id]
    assert ids(charge=second.id) == [late.id]
    assert ids(created={"gte": late.created}) == [again.id, late.id]
    assert ids(created={"gt": early.created, "lt": again.created}) == [late.id]
    assert ids(created={"lte": early.created}) == [early.id]
    assert ids(created=late.created) == [late.id]
    assert ids(payment_intent=str(first.payment_intent), created={"gt": early.created}) == [
        again.id
    ]
    page = client.v1.refunds.list(params={"limit": 2})
    assert [r.id for r in page.data] == [again.id, late.id] and page.has_more
    rest = client.v1.refunds.list(params={"limit": 2, "starting_after": late.id})
    assert [r.id for r in rest.data] == [early.id] and not rest.has_more
    before = client.v1.refunds.list(params={"ending_before": early.id, "limit": 1})
    assert [r.id for r in before.data] == [late.id]


def disputed_invoice(sandbox: SandboxControl) -> stripe.Dispute:
    invoice = open_invoice(sandbox)
    sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_createDispute"})
    _, charge = the_payment(sandbox, invoice.id)
    (dispute,) = sandbox.client.v1.disputes.list(params={"charge": charge.id}).data
    return dispute


def test_disputes_are_listed_by_created_range_by_payment_intent_and_by_charge(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    early = disputed_invoice(sandbox)
    sandbox.advance_clock(HOUR)
    late = disputed_invoice(sandbox)
    paid_charge(sandbox)  # paid and never disputed

    def ids(**params: Any) -> list[str]:
        return [dispute.id for dispute in client.v1.disputes.list(params=cast(Any, params))]

    assert ids() == [late.id, early.id]
    assert ids(payment_intent=str(early.payment_intent)) == [early.id]
    assert ids(charge=str(late.charge)) == [late.id]
    assert ids(created={"gte": late.created}) == [late.id]
    assert ids(created={"lt": late.created}) == [early.id]
    assert ids(created={"gt": late.created}) == []
    assert ids(payment_intent=str(late.payment_intent), created={"lt": late.created}) == []


def test_charges_are_listed_by_customer_payment_intent_and_created(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    early = paid_charge(sandbox)
    sandbox.advance_clock(HOUR)
    late = paid_charge(sandbox)

    def ids(**params: Any) -> list[str]:
        return [charge.id for charge in client.v1.charges.list(params=cast(Any, params))]

    assert ids() == [late.id, early.id]
    assert ids(customer=str(early.customer)) == [early.id]
    assert ids(payment_intent=str(late.payment_intent)) == [late.id]
    assert ids(created={"gte": late.created}) == [late.id]
    assert ids(limit=1, starting_after=late.id) == [early.id]


@pytest.mark.parametrize(
    ("resource", "params", "param"),
    [
        ("refunds", {"invoice": "in_1"}, "invoice"),
        ("refunds", {"created": {"after": "1"}}, "created[after]"),
        ("refunds", {"created": "yesterday"}, "created"),
        ("disputes", {"status": "lost"}, "status"),
        ("disputes", {"limit": 101}, "limit"),
        ("charges", {"invoice": "in_1"}, "invoice"),
        ("charges", {"starting_after": "ch_missing"}, "starting_after"),
    ],
)
def test_bad_list_parameters_are_refused(
    sandbox: SandboxControl, resource: str, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        getattr(sandbox.client.v1, resource).list(params=params)
    assert refused.value.http_status == 400 and refused.value.param == param
