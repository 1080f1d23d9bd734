"""The invoice lifecycle through the official SDK: draft → open → paid | void | uncollectible.

Every test talks to a real sandbox subprocess; state is reset between tests, so the event
log holds only what the test itself caused.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sandbox import TEST_KEY, SandboxControl

DAY = 86400


def loose(params: dict[str, Any]) -> Any:
    """Params the SDK's TypedDicts would not allow (wrong types, extra keys)."""
    return params


def new_customer(client: stripe.StripeClient, **params: Any) -> stripe.Customer:
    return client.v1.customers.create(params=loose({"name": "Ann Example", **params}))


def new_invoice(
    client: stripe.StripeClient,
    customer_id: str,
    *amounts: int,
    days_until_due: int = 30,
    **params: Any,
) -> stripe.Invoice:
    """A send_invoice draft with one line per amount."""
    invoice = client.v1.invoices.create(
        params=loose(
            {
                "customer": customer_id,
                "collection_method": "send_invoice",
                "days_until_due": days_until_due,
                **params,
            }
        )
    )
    for amount in amounts:
        client.v1.invoice_items.create(
            params={"customer": customer_id, "invoice": invoice.id, "amount": amount}
        )
    return client.v1.invoices.retrieve(invoice.id)


def open_invoice(client: stripe.StripeClient, *amounts: int) -> stripe.Invoice:
    customer = new_customer(client)
    invoice = new_invoice(client, customer.id, *(amounts or (5000,)))
    return client.v1.invoices.finalize_invoice(invoice.id)


def all_events(client: stripe.StripeClient) -> list[stripe.Event]:
    """Every event so far, oldest first."""
    newest_first = client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    return list(reversed(list(newest_first)))


def types_since(client: stripe.StripeClient, count_before: int) -> list[str]:
    return [event.type for event in all_events(client)[count_before:]]


# Customers


def test_customer_create_then_retrieve_returns_what_was_stored(sandbox: SandboxControl) -> None:
    client = sandbox.client
    created = client.v1.customers.create(
        params={
            "name": "Ann Example",
            "email": "ann@example.com",
            "phone": "+15550100",
            "metadata": {"user_id": "42"},
        }
    )
    assert created.id.startswith("cus_")
    assert created.livemode is False

    fetched = client.v1.customers.retrieve(created.id)

    assert (fetched.id, fetched.name, fetched.email, fetched.phone) == (
        created.id,
        "Ann Example",
        "ann@example.com",
        "+15550100",
    )
    assert fetched.metadata is not None
    assert fetched.metadata.to_dict() == {"user_id": "42"}
    assert fetched.created == created.created


# Creating invoices


def test_send_invoice_without_days_until_due_or_due_date_is_refused(
    sandbox: SandboxControl,
) -> None:
    customer = new_customer(sandbox.client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.create(
            params={"customer": customer.id, "collection_method": "send_invoice"}
        )
    assert caught.value.http_status == 400
    assert caught.value.param == "days_until_due"
    assert "days_until_due" in (caught.value.user_message or "")
    assert list(sandbox.client.v1.invoices.list().data) == []


def test_send_invoice_with_due_date_is_accepted(sandbox: SandboxControl) -> None:
    customer = new_customer(sandbox.client)
    invoice = sandbox.client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "due_date": 2_000_000_000,
        }
    )
    assert (invoice.status, invoice.due_date) == ("draft", 2_000_000_000)


@pytest.mark.parametrize(("field", "value"), [("days_until_due", 7), ("due_date", 2_000_000_000)])
def test_due_terms_with_charge_automatically_are_refused(
    sandbox: SandboxControl, field: str, value: int
) -> None:
    customer = new_customer(sandbox.client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.create(
            params=loose(
                {"customer": customer.id, "collection_method": "charge_automatically", field: value}
            )
        )
    assert caught.value.param == field
    assert "send_invoice" in (caught.value.user_message or "")


def test_invoice_defaults_to_charge_automatically_draft(sandbox: SandboxControl) -> None:
    customer = new_customer(sandbox.client, email="ann@example.com")
    invoice = sandbox.client.v1.invoices.create(params={"customer": customer.id})
    assert invoice.id.startswith("in_")
    assert (invoice.status, invoice.collection_method, invoice.currency) == (
        "draft",
        "charge_automatically",
        "usd",
    )
    assert (invoice.amount_due, invoice.number, invoice.hosted_invoice_url) == (0, None, None)
    assert invoice.customer == customer.id
    assert invoice.customer_email == "ann@example.com"


# Invoice items and amounts


def test_item_with_invoice_lands_on_the_draft_and_sets_amounts(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id)
    first = client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 15000}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 2500}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": -500}
    )

    invoice = client.v1.invoices.retrieve(draft.id)

    assert first.invoice == draft.id
    assert (
        invoice.subtotal,
        invoice.total,
        invoice.amount_due,
        invoice.amount_remaining,
        invoice.amount_paid,
    ) == (17000, 17000, 17000, 17000, 0)
    assert sorted(line.amount for line in invoice.lines.data) == [-500, 2500, 15000]
    assert invoice.lines["total_count"] == 3


def test_pending_item_does_not_join_a_later_invoice_by_default(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    item = client.v1.invoice_items.create(params={"customer": customer.id, "amount": 1200})
    assert item.invoice is None

    invoice = new_invoice(client, customer.id)

    assert (invoice.amount_due, invoice.total, list(invoice.lines.data)) == (0, 0, [])
    assert client.v1.invoice_items.retrieve(item.id).invoice is None


def test_pending_items_behavior_exclude_leaves_the_invoice_at_zero(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = new_customer(client)
    client.v1.invoice_items.create(params={"customer": customer.id, "amount": 1200})

    invoice = new_invoice(client, customer.id, pending_invoice_items_behavior="exclude")

    assert invoice.amount_due == 0
    assert list(invoice.lines.data) == []


def test_pending_items_behavior_include_pulls_in_the_customers_pending_items(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = new_customer(client)
    other = new_customer(client, name="Bob Other")
    mine = [
        client.v1.invoice_items.create(params={"customer": customer.id, "amount": amount})
        for amount in (1200, 800)
    ]
    theirs = client.v1.invoice_items.create(params={"customer": other.id, "amount": 999})

    invoice = new_invoice(client, customer.id, pending_invoice_items_behavior="include")

    assert (invoice.subtotal, invoice.amount_due, invoice.amount_remaining) == (2000, 2000, 2000)
    assert sorted(line.amount for line in invoice.lines.data) == [800, 1200]
    assert [client.v1.invoice_items.retrieve(i.id).invoice for i in mine] == [invoice.id] * 2
    assert client.v1.invoice_items.retrieve(theirs.id).invoice is None

    # Items already on an invoice are not pending any more: a second invoice gets nothing.
    again = new_invoice(client, customer.id, pending_invoice_items_behavior="include")
    assert again.amount_due == 0


def test_include_pulls_in_only_pending_items_in_the_invoice_currency(
    sandbox: SandboxControl,
) -> None:
    """An invoice's lines share its currency: the sandbox itself refuses `invoice=` with a
    mismatched currency, so `include` must not slip a usd item onto an eur invoice."""
    client = sandbox.client
    customer = new_customer(client)
    usd_item = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 500, "currency": "usd"}
    )
    eur_item = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 700, "currency": "eur"}
    )

    invoice = new_invoice(
        client, customer.id, currency="eur", pending_invoice_items_behavior="include"
    )

    assert [(line.amount, line.currency) for line in invoice.lines.data] == [(700, "eur")]
    assert invoice.amount_due == 700
    assert client.v1.invoice_items.retrieve(eur_item.id).invoice == invoice.id
    assert client.v1.invoice_items.retrieve(usd_item.id).invoice is None


def test_item_cannot_be_added_to_an_open_invoice(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 5000)
    assert isinstance(invoice.customer, str)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoice_items.create(
            params={"customer": invoice.customer, "invoice": invoice.id, "amount": 100}
        )

    assert caught.value.param == "invoice"
    assert caught.value.code == "invoice_not_editable"
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_due, len(after.lines.data)) == (5000, 1)
    assert len(client.v1.invoice_items.list(params={"customer": invoice.customer}).data) == 1


def test_item_cannot_go_on_another_customers_invoice(sandbox: SandboxControl) -> None:
    client = sandbox.client
    owner = new_customer(client)
    stranger = new_customer(client, name="Bob Other")
    invoice = new_invoice(client, owner.id)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoice_items.create(
            params={"customer": stranger.id, "invoice": invoice.id, "amount": 100}
        )

    assert caught.value.param == "invoice"
    assert client.v1.invoices.retrieve(invoice.id).amount_due == 0


# Finalizing


def test_finalize_sets_number_due_date_urls_and_finalized_at(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id, 5000, days_until_due=14)
    # The due date counts from finalization, not from creation.
    sandbox.advance_clock(3 * DAY)

    invoice = client.v1.invoices.finalize_invoice(draft.id)

    finalized_at = invoice.status_transitions.finalized_at
    assert invoice.status == "open"
    assert finalized_at is not None and finalized_at >= draft.created + 3 * DAY
    assert invoice.due_date == finalized_at + 14 * DAY
    assert invoice.number is not None and invoice.number.endswith("-0001")
    assert invoice.hosted_invoice_url == f"{sandbox.base}/i/{invoice.id}"
    assert invoice.invoice_pdf == f"{sandbox.base}/i/{invoice.id}/pdf"
    assert (invoice.amount_due, invoice.amount_remaining, invoice.amount_paid) == (5000, 5000, 0)
    assert client.v1.invoices.retrieve(invoice.id).number == invoice.number


def test_finalized_invoice_links_serve_the_page_and_the_pdf(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox.client, 5000)
    assert invoice.hosted_invoice_url and invoice.invoice_pdf

    page = sandbox.http.get(invoice.hosted_invoice_url)
    pdf = sandbox.http.get(invoice.invoice_pdf)

    assert page.status_code == 200
    assert invoice.number is not None and invoice.number in page.text
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_invoice_numbers_count_up_per_customer(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    first = client.v1.invoices.finalize_invoice(new_invoice(client, customer.id, 100).id)
    second = client.v1.invoices.finalize_invoice(new_invoice(client, customer.id, 100).id)

    assert first.number is not None and second.number is not None
    prefix = first.number.rsplit("-", 1)[0]
    assert (first.number, second.number) == (f"{prefix}-0001", f"{prefix}-0002")


def test_refinalizing_an_open_invoice_is_refused(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox.client)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.finalize_invoice(invoice.id)

    assert caught.value.http_status == 400
    assert "finalize" in (caught.value.user_message or "")
    after = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.number) == ("open", invoice.number)


def test_zero_amount_invoice_is_paid_at_finalization(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id)
    count_before = len(all_events(client))

    invoice = client.v1.invoices.finalize_invoice(draft.id)

    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", 0, 0)
    assert invoice.status_transitions.paid_at == invoice.status_transitions.finalized_at
    assert invoice.number is not None
    assert types_since(client, count_before) == [
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.updated",
    ]


# Sending


def test_send_on_draft_finalizes_it_and_emits_invoice_sent(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id, 7000, days_until_due=10)
    count_before = len(all_events(client))

    sent = client.v1.invoices.send_invoice(draft.id)

    assert sent.status == "open"
    assert sent.number is not None
    finalized_at = sent.status_transitions.finalized_at
    assert finalized_at is not None
    assert sent.due_date == finalized_at + 10 * DAY
    assert types_since(client, count_before) == [
        "invoice.finalized",
        "invoice.updated",
        "invoice.sent",
    ]


def test_send_on_open_invoice_keeps_it_open_and_emits_another_sent(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    invoice = open_invoice(client)
    client.v1.invoices.send_invoice(invoice.id)
    count_before = len(all_events(client))

    again = client.v1.invoices.send_invoice(invoice.id)

    assert (again.status, again.number) == ("open", invoice.number)
    assert types_since(client, count_before) == ["invoice.sent"]
    sent = client.v1.events.list(params={"type": "invoice.sent"}).data
    assert len(sent) == 2
    assert {event.data.object["id"] for event in sent} == {invoice.id}


def test_send_on_charge_automatically_invoice_is_refused(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    invoice = client.v1.invoices.create(params={"customer": customer.id})

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.send_invoice(invoice.id)

    assert client.v1.invoices.retrieve(invoice.id).status == "draft"
    assert client.v1.events.list(params={"type": "invoice.sent"}).data == []


def test_send_on_zero_amount_draft_succeeds_and_leaves_it_paid(sandbox: SandboxControl) -> None:
    """Stripe's docs: sending a paid invoice is allowed ("there will be no reference to the
    payment in the email"), so sending a $0 draft finalizes it (paid at once) and sends it.
    Whatever the answer, a refused call must not have finalized and paid the invoice."""
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id)

    try:
        sent = client.v1.invoices.send_invoice(draft.id)
    except stripe.InvalidRequestError as error:
        after = client.v1.invoices.retrieve(draft.id)
        pytest.fail(
            f"send on a $0 draft was refused ({error.user_message}) yet the invoice is now "
            f"{after.status} with number {after.number}"
        )
    assert sent.status == "paid"
    assert len(client.v1.events.list(params={"type": "invoice.sent"}).data) == 1


# Paying


def test_pay_with_visa_marks_the_invoice_paid(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 12000)

    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    assert paid.status == "paid"
    assert (paid.amount_paid, paid.amount_remaining, paid.amount_due) == (12000, 0, 12000)
    assert paid.status_transitions.paid_at is not None
    assert (paid.attempt_count, paid.attempted) == (1, True)
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_declined_card_raises_card_error_and_the_invoice_stays_open(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 12000)

    with pytest.raises(stripe.CardError) as caught:
        client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa_chargeDeclined"})

    error = caught.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error is not None and error.error.decline_code == "generic_decline"
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count, after.attempted) == ("open", 1, True)
    assert (after.amount_paid, after.amount_remaining) == (0, 12000)
    assert after.status_transitions.paid_at is None
    failed = client.v1.events.list(params={"type": "invoice.payment_failed"}).data
    assert [event.data.object["id"] for event in failed] == [invoice.id]
    assert client.v1.events.list(params={"type": "invoice.paid"}).data == []


def test_declined_invoice_can_be_paid_with_another_card(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 12000)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa_chargeDeclined"})

    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    assert (paid.status, paid.attempt_count, paid.amount_paid) == ("paid", 2, 12000)


def test_paid_out_of_band_marks_the_invoice_paid(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 4000)

    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})

    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 4000, 0)
    assert paid.status_transitions.paid_at is not None
    assert len(client.v1.events.list(params={"type": "invoice.paid"}).data) == 1


def test_no_paid_out_of_band_field_in_answers_or_events(sandbox: SandboxControl) -> None:
    """API version 2025-03-31.basil removed `paid_out_of_band` from the Invoice object (the
    SDK's pinned version is later and its Invoice class no longer declares it)."""
    client = sandbox.client
    out_of_band = open_invoice(client, 4000)
    by_card = open_invoice(client, 4000)
    client.v1.invoices.pay(out_of_band.id, params={"paid_out_of_band": True})
    client.v1.invoices.pay(by_card.id, params={"payment_method": "pm_card_visa"})
    auth = {"Authorization": f"Bearer {TEST_KEY}"}

    answers = [
        sandbox.http.get(f"/v1/invoices/{invoice.id}", headers=auth).json()
        for invoice in (out_of_band, by_card)
    ]
    events = sandbox.http.get("/v1/events", params={"limit": 100}, headers=auth).json()["data"]

    assert "paid_out_of_band" not in stripe.Invoice.__annotations__
    assert all("paid_out_of_band" not in answer for answer in answers)
    assert all("paid_out_of_band" not in event["data"]["object"] for event in events)


def test_amount_paid_off_stripe_is_sent_when_asked_for(sandbox: SandboxControl) -> None:
    """`amount_paid_off_stripe` (2026-05-27.dahlia) replaces `paid_out_of_band`: the amount
    paid outside Stripe, included on request (`expand[]`) and never in event payloads."""
    client = sandbox.client
    out_of_band = open_invoice(client, 4000)
    by_card = open_invoice(client, 2500)
    client.v1.invoices.pay(out_of_band.id, params={"paid_out_of_band": True})
    client.v1.invoices.pay(by_card.id, params={"payment_method": "pm_card_visa"})
    include: Any = {"expand": ["amount_paid_off_stripe"]}

    asked = client.v1.invoices.retrieve(out_of_band.id, params=include)
    card = client.v1.invoices.retrieve(by_card.id, params=include)
    plain = client.v1.invoices.retrieve(out_of_band.id)
    listed = client.v1.invoices.list(params={"expand": ["data.amount_paid_off_stripe"]})
    paid_events = client.v1.events.list(params={"type": "invoice.paid"}).data

    assert (asked.amount_paid, asked.amount_paid_off_stripe) == (4000, 4000)
    assert (card.amount_paid, card.amount_paid_off_stripe) == (2500, 0)
    assert "amount_paid_off_stripe" not in plain
    assert {i.id: i.amount_paid_off_stripe for i in listed.data} == {
        out_of_band.id: 4000,
        by_card.id: 0,
    }
    assert len(paid_events) == 2
    assert all("amount_paid_off_stripe" not in e.data.object for e in paid_events)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve(str(asked.customer), params=include)
    assert caught.value.param == "expand"


def test_pay_is_refused_on_a_draft_and_on_a_paid_invoice(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id, 3000)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(draft.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.invoices.retrieve(draft.id).status == "draft"

    invoice = client.v1.invoices.finalize_invoice(draft.id)
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1


def test_pay_with_an_unknown_payment_method_is_resource_missing(sandbox: SandboxControl) -> None:
    invoice = open_invoice(sandbox.client)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_nope"})

    assert (caught.value.code, caught.value.param) == ("resource_missing", "payment_method")
    assert sandbox.client.v1.invoices.retrieve(invoice.id).attempt_count == 0


# Voiding, uncollectible, deleting


def test_void_an_open_invoice(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client)

    voided = client.v1.invoices.void_invoice(invoice.id)

    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    assert [e.data.object["id"] for e in client.v1.events.list(params={"type": "invoice.voided"})]


def test_void_of_a_draft_is_refused(sandbox: SandboxControl) -> None:
    client = sandbox.client
    draft = new_invoice(client, new_customer(client).id, 100)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoices.void_invoice(draft.id)

    assert caught.value.code == "invoice_not_editable"
    assert client.v1.invoices.retrieve(draft.id).status == "draft"


def test_void_of_a_paid_invoice_is_refused(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client)
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(invoice.id)

    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_void_invoice_cannot_be_paid(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client)
    client.v1.invoices.void_invoice(invoice.id)

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    assert client.v1.invoices.retrieve(invoice.id).status == "void"


def test_mark_uncollectible_works_from_open_only(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = new_invoice(client, customer.id, 100)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(draft.id)

    invoice = client.v1.invoices.finalize_invoice(draft.id)
    marked = client.v1.invoices.mark_uncollectible(invoice.id)
    assert marked.status == "uncollectible"
    assert marked.status_transitions.marked_uncollectible_at is not None

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(invoice.id)

    paid = open_invoice(client)
    client.v1.invoices.pay(paid.id, params={"paid_out_of_band": True})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(paid.id)
    assert client.v1.invoices.retrieve(paid.id).status == "paid"


def test_uncollectible_invoice_can_still_be_paid(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 900)
    client.v1.invoices.mark_uncollectible(invoice.id)

    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 900, 0)


def test_uncollectible_invoice_can_be_voided(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client)
    client.v1.invoices.mark_uncollectible(invoice.id)

    assert client.v1.invoices.void_invoice(invoice.id).status == "void"


def test_delete_a_draft_then_retrieve_is_404(sandbox: SandboxControl) -> None:
    client = sandbox.client
    draft = new_invoice(client, new_customer(client).id, 100)

    deleted = client.v1.invoices.delete(draft.id)

    assert (deleted.id, deleted.deleted) == (draft.id, True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoices.retrieve(draft.id)
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    assert draft.id in (caught.value.user_message or "")
    assert [e.data.object["id"] for e in client.v1.events.list(params={"type": "invoice.deleted"})]
    assert draft.id not in [i.id for i in client.v1.invoices.list().data]


@pytest.mark.parametrize("state", ["open", "paid", "void"])
def test_delete_of_a_finalized_invoice_is_refused(sandbox: SandboxControl, state: str) -> None:
    client = sandbox.client
    invoice = open_invoice(client)
    if state == "paid":
        client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    elif state == "void":
        client.v1.invoices.void_invoice(invoice.id)

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.delete(invoice.id)

    assert client.v1.invoices.retrieve(invoice.id).status == state


# Line items


def test_line_items_list_shows_every_item_with_its_invoice_item(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 3}
    )
    items = [
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "description": f"job {amount}",
            }
        )
        for amount in (100, 200, 300)
    ]

    lines = client.v1.invoices.line_items.list(invoice.id)

    assert [line.amount for line in lines.data] == [100, 200, 300]
    assert [line.description for line in lines.data] == ["job 100", "job 200", "job 300"]
    details = [line.parent.invoice_item_details for line in lines.data if line.parent]
    assert [d.invoice_item for d in details if d] == [item.id for item in items]
    assert lines.has_more is False


def test_line_items_pages_with_limit_and_cursors(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = new_invoice(client, new_customer(client).id, 100, 200, 300, 400)
    every = [line.id for line in client.v1.invoices.line_items.list(invoice.id).data]

    first = client.v1.invoices.line_items.list(invoice.id, params={"limit": 2})
    rest = client.v1.invoices.line_items.list(
        invoice.id, params={"limit": 2, "starting_after": first.data[-1].id}
    )
    walked = list(
        client.v1.invoices.line_items.list(invoice.id, params={"limit": 1}).auto_paging_iter()
    )

    assert ([line.id for line in first.data], first.has_more) == (every[:2], True)
    assert ([line.id for line in rest.data], rest.has_more) == (every[2:], False)
    assert [line.id for line in walked] == every


def test_line_items_ending_before_returns_the_lines_before_the_cursor(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    invoice = new_invoice(client, new_customer(client).id, 100, 200, 300)
    every = [line.id for line in client.v1.invoices.line_items.list(invoice.id).data]

    before = client.v1.invoices.line_items.list(invoice.id, params={"ending_before": every[2]})

    # The route accepts ending_before; it must not be silently ignored.
    assert [line.id for line in before.data] == every[:2]


# Events


def test_finalize_send_pay_emit_exactly_these_events(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = new_customer(client)
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
    )
    assert types_since(client, 0) == [
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
    ]

    count = len(all_events(client))
    client.v1.invoices.finalize_invoice(invoice.id)
    assert types_since(client, count) == ["invoice.finalized", "invoice.updated"]

    count = len(all_events(client))
    client.v1.invoices.send_invoice(invoice.id)
    assert types_since(client, count) == ["invoice.sent"]

    count = len(all_events(client))
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert types_since(client, count) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.updated",
    ]


def test_events_carry_the_object_state_and_previous_attributes(sandbox: SandboxControl) -> None:
    client = sandbox.client
    invoice = open_invoice(client, 2500)

    finalized = client.v1.events.list(params={"type": "invoice.finalized"}).data[0]
    updated = client.v1.events.list(params={"type": "invoice.updated"}).data[0]

    assert finalized.data.object["id"] == invoice.id
    assert finalized.data.object["status"] == "open"
    assert finalized.data.object["number"] == invoice.number
    assert updated.data.object["status"] == "open"
    previous = updated.data.previous_attributes
    assert previous is not None
    assert previous["status"] == "draft"
    assert previous["number"] is None
    assert client.v1.events.retrieve(finalized.id).type == "invoice.finalized"


def test_events_carry_api_version_livemode_and_the_causing_request(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(
        params={"name": "Ann"}, options={"idempotency_key": "create-ann-1"}
    )
    invoice = new_invoice(client, customer.id, 100)
    finalized = client.v1.invoices.finalize_invoice(
        invoice.id, options={"idempotency_key": "finalize-ann-1"}
    )
    assert customer.last_response is not None and finalized.last_response is not None

    events = all_events(client)
    assert events
    for event in events:
        assert event.api_version == stripe.api_version
        assert event.livemode is False
        assert event.request is not None and event.request.id is not None
        assert event.request.id.startswith("req_")

    by_type = {event.type: event for event in events}
    created = by_type["customer.created"]
    assert created.request is not None
    assert created.request.id == customer.last_response.request_id
    assert created.request.idempotency_key == "create-ann-1"
    for event_type in ("invoice.finalized", "invoice.updated"):
        request = [e for e in events if e.type == event_type][-1].request
        assert request is not None
        assert request.id == finalized.last_response.request_id
        assert request.idempotency_key == "finalize-ann-1"


def test_days_until_due_zero_makes_the_invoice_due_at_finalization(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = new_customer(client)
    draft = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 0}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 1000}
    )
    final = client.v1.invoices.finalize_invoice(draft.id)
    assert final.due_date == final.status_transitions.finalized_at
