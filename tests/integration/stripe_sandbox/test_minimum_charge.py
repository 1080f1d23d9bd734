"""Stripe's minimum charge and the customer's invoice balance, through the official SDK.

Stripe documents that an invoice whose amount due is below the minimum charge amount of its
currency (docs.stripe.com/currencies, "Minimum and maximum charge amounts") is marked paid as
it finalizes with nothing collected, and the amount owed is moved onto the customer's balance
as a debit, which the next invoice finalized in that currency collects.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sandbox import SandboxControl


def draft(client: stripe.StripeClient, customer_id: str, amount: int, currency: str = "usd") -> str:
    """A send_invoice draft in this currency with one line of this amount."""
    invoice = client.v1.invoices.create(
        params={
            "customer": customer_id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "currency": currency,
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer_id, "invoice": invoice.id, "amount": amount}
    )
    return invoice.id


def events_of(client: stripe.StripeClient, event_type: str) -> list[stripe.Event]:
    return list(client.v1.events.list(params={"type": event_type, "limit": 100}).data)


def types_since(client: stripe.StripeClient, count_before: int) -> list[str]:
    events = client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    return [str(event.type) for event in reversed(list(events))][count_before:]


def previous(event: stripe.Event) -> dict[str, Any]:
    attributes = event.data.previous_attributes
    return attributes.to_dict() if attributes is not None else {}


def event_count(client: stripe.StripeClient) -> int:
    return len(list(client.v1.events.list(params={"limit": 100}).auto_paging_iter()))


def test_a_one_cent_invoice_is_paid_at_finalization_and_the_cent_moves_to_the_balance(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    invoice_id = draft(client, customer.id, 1)
    before = event_count(client)

    invoice = client.v1.invoices.finalize_invoice(invoice_id)

    assert invoice.status == "paid"
    assert (invoice.total, invoice.amount_due, invoice.amount_paid) == (1, 0, 0)
    assert invoice.amount_remaining == 0
    assert (invoice.starting_balance, invoice.ending_balance) == (0, 1)
    assert invoice.status_transitions.paid_at == invoice.status_transitions.finalized_at
    assert invoice.number is not None
    owing = client.v1.customers.retrieve(customer.id)
    assert (owing.balance, owing.currency) == (1, "usd")
    assert types_since(client, before) == [
        "invoice.finalized",
        "customer.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.updated",
    ]
    [updated] = events_of(client, "customer.updated")
    assert updated.data.object["balance"] == 1
    assert previous(updated) == {"balance": 0, "currency": None}
    [paid] = events_of(client, "invoice.paid")
    assert (paid.data.object["amount_paid"], paid.data.object["ending_balance"]) == (0, 1)


def test_an_invoice_at_the_minimum_charge_stays_open_and_leaves_the_balance(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})

    invoice = client.v1.invoices.finalize_invoice(draft(client, customer.id, 50))

    assert invoice.status == "open"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (50, 0, 50)
    assert (invoice.starting_balance, invoice.ending_balance) == (0, 0)
    assert client.v1.customers.retrieve(customer.id).balance == 0
    assert events_of(client, "customer.updated") == []
    assert events_of(client, "invoice.paid") == []


@pytest.mark.parametrize(("currency", "minimum"), [("gbp", 30), ("cad", 50), ("eur", 50)])
def test_each_currency_has_its_own_minimum(
    sandbox: SandboxControl, currency: str, minimum: int
) -> None:
    client = sandbox.client
    below = client.v1.customers.create(params={"name": "Below"})
    at = client.v1.customers.create(params={"name": "At"})

    small = client.v1.invoices.finalize_invoice(
        draft(client, below.id, minimum - 1, currency=currency)
    )
    enough = client.v1.invoices.finalize_invoice(draft(client, at.id, minimum, currency=currency))

    assert (small.status, small.amount_due, small.ending_balance) == ("paid", 0, minimum - 1)
    assert (enough.status, enough.amount_due) == ("open", minimum)
    owing = client.v1.customers.retrieve(below.id)
    assert (owing.balance, owing.currency) == (minimum - 1, currency)
    assert client.v1.customers.retrieve(at.id).balance == 0


def test_gbp_thirty_pence_is_chargeable_where_thirty_cents_is_not(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    other = client.v1.customers.create(params={"name": "Bob"})

    pence = client.v1.invoices.finalize_invoice(draft(client, customer.id, 30, currency="gbp"))
    cents = client.v1.invoices.finalize_invoice(draft(client, other.id, 30, currency="usd"))

    assert (pence.status, cents.status) == ("open", "paid")


def test_the_next_invoice_collects_what_was_moved_onto_the_balance(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    client.v1.invoices.finalize_invoice(draft(client, customer.id, 1))
    next_id = draft(client, customer.id, 15000)
    assert client.v1.invoices.retrieve(next_id).starting_balance == 1  # a draft shows it
    before = len(events_of(client, "customer.updated"))

    invoice = client.v1.invoices.finalize_invoice(next_id)

    assert (invoice.status, invoice.total, invoice.amount_due) == ("open", 15000, 15001)
    assert (invoice.starting_balance, invoice.ending_balance) == (1, 0)
    assert invoice.amount_remaining == 15001
    assert client.v1.customers.retrieve(customer.id).balance == 0
    updates = events_of(client, "customer.updated")
    assert len(updates) == before + 1
    assert previous(updates[0]) == {"balance": 1}


def test_small_amounts_add_up_until_they_can_be_charged(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})

    first = client.v1.invoices.finalize_invoice(draft(client, customer.id, 30))
    second = client.v1.invoices.finalize_invoice(draft(client, customer.id, 30))

    assert (first.status, first.ending_balance) == ("paid", 30)
    assert (second.status, second.starting_balance, second.amount_due) == ("open", 30, 60)
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_a_draft_made_before_the_balance_moved_shows_the_new_balance(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    waiting = draft(client, customer.id, 15000)
    assert client.v1.invoices.retrieve(waiting).starting_balance == 0

    client.v1.invoices.finalize_invoice(draft(client, customer.id, 10))

    assert client.v1.invoices.retrieve(waiting).starting_balance == 10


def test_sending_a_draft_below_the_minimum_finalizes_it_paid_and_sends_it(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})

    sent = client.v1.invoices.send_invoice(draft(client, customer.id, 25))

    assert (sent.status, sent.amount_due, sent.amount_paid, sent.ending_balance) == (
        "paid",
        0,
        0,
        25,
    )
    assert client.v1.customers.retrieve(customer.id).balance == 25
    assert len(events_of(client, "invoice.sent")) == 1
    assert len(events_of(client, "invoice.paid")) == 1


def test_voiding_gives_back_the_balance_the_invoice_took(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    client.v1.invoices.finalize_invoice(draft(client, customer.id, 20))
    taken = client.v1.invoices.finalize_invoice(draft(client, customer.id, 15000))
    assert client.v1.customers.retrieve(customer.id).balance == 0

    client.v1.invoices.void_invoice(taken.id)

    assert client.v1.customers.retrieve(customer.id).balance == 20
    assert previous(events_of(client, "customer.updated")[0]) == {"balance": 0}


def test_a_balance_applies_only_to_invoices_in_its_currency(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    client.v1.invoices.finalize_invoice(draft(client, customer.id, 10, currency="usd"))

    other = client.v1.invoices.finalize_invoice(draft(client, customer.id, 5000, currency="cad"))

    assert (other.starting_balance, other.amount_due) == (0, 5000)
    assert client.v1.customers.retrieve(customer.id).balance == 10


def test_a_zero_invoice_is_paid_without_touching_the_balance(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )

    paid = client.v1.invoices.finalize_invoice(invoice.id)

    assert (paid.status, paid.amount_due, paid.ending_balance) == ("paid", 0, 0)
    after = client.v1.customers.retrieve(customer.id)
    assert (after.balance, after.currency) == (0, None)
    assert events_of(client, "customer.updated") == []
