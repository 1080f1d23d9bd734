"""Webhook delivery: signed as Stripe signs, at least once, retried, filtered, chaotic on demand."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import stripe

from tests.support.receiver import Receiver, running_receiver
from tests.support.sandbox import SandboxControl, free_port

AUTH = {"Authorization": "Bearer sk_test_x"}


@pytest.fixture
def chaos(sandbox: SandboxControl) -> Iterator[Callable[..., None]]:
    """Set delivery chaos for one test; the session sandbox is calm again afterwards."""
    yield sandbox.chaos
    sandbox.chaos()


def endpoint_id(sandbox: SandboxControl, url: str) -> str:
    endpoints = sandbox.client.v1.webhook_endpoints.list(params={"limit": 100}).data
    (endpoint,) = [endpoint for endpoint in endpoints if endpoint.url == url]
    return endpoint.id


def events_oldest_first(sandbox: SandboxControl, **params: Any) -> list[stripe.Event]:
    listed = sandbox.client.v1.events.list(params=cast(Any, {"limit": 100, **params})).data
    return list(reversed(listed))


def attempts_for(sandbox: SandboxControl, event_id: str) -> list[dict[str, Any]]:
    return [attempt for attempt in sandbox.deliveries() if attempt["event"] == event_id]


def send_and_pay(sandbox: SandboxControl) -> str:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann", "email": "ann@example.com"})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
    )
    client.v1.invoices.send_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    return invoice.id


def test_every_delivery_of_a_send_and_pay_flow_verifies_with_construct_event(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    send_and_pay(sandbox)
    assert sandbox.drain() == 0
    assert receiver.rejected == []
    created = events_oldest_first(sandbox)
    assert sorted(receiver.ids()) == sorted(event.id for event in created)
    assert set(receiver.types()) == {
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.sent",
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
    }
    # What is delivered is the event the API shows, pending count aside.
    for headers, body in receiver.raw:
        delivered = json.loads(body)
        shown = sandbox.http.get(f"/v1/events/{delivered['id']}", headers=AUTH).json()
        assert {**delivered, "pending_webhooks": 0} == shown
        assert headers["Content-Type"].startswith("application/json")
        timestamp = int(headers["Stripe-Signature"].split(",")[0].removeprefix("t="))
        assert abs(time.time() - timestamp) < 60
    assert events_oldest_first(sandbox, delivery_success=False) == []


def test_tampered_payload_or_wrong_secret_fails_verification(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    sandbox.client.v1.customers.create(params={"name": "Ann"})
    assert sandbox.drain() == 0
    (headers, body) = receiver.raw[0]
    signature = headers["Stripe-Signature"]
    assert stripe.Webhook.construct_event(body, signature, receiver.secret).type == (
        "customer.created"
    )
    tampered = body.replace(b'"name": "Ann"', b'"name": "Eve"')
    assert tampered != body
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, signature, receiver.secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_" + "x" * 43)
    other_endpoint = sandbox.client.v1.webhook_endpoints.create(
        params={"url": "https://example.com/other", "enabled_events": ["*"]}
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, other_endpoint.secret or "")


def test_answer_500_then_200_redelivers_the_same_event_and_it_ends_delivered(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    receiver.answers = [500]
    sandbox.client.v1.customers.create(params={"name": "Ann"})
    assert sandbox.drain() == 0
    (event,) = events_oldest_first(sandbox)
    delivered_ids = [json.loads(body)["id"] for _, body in receiver.raw]
    assert delivered_ids == [event.id, event.id]
    attempts = attempts_for(sandbox, event.id)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 200)]
    assert receiver.ids() == [event.id]
    assert sandbox.client.v1.events.retrieve(event.id).pending_webhooks == 0
    assert [e.id for e in events_oldest_first(sandbox, delivery_success=True)] == [event.id]
    assert events_oldest_first(sandbox, delivery_success=False) == []


def test_endpoint_that_always_fails_leaves_the_event_undelivered_after_the_schedule(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    receiver.answers = [500] * 10
    sandbox.client.v1.customers.create(params={"name": "Ann"})
    assert sandbox.drain() == 0
    (event,) = events_oldest_first(sandbox)
    attempts = attempts_for(sandbox, event.id)
    # The first attempt and one retry per entry of the 0.05,0.1,0.2 schedule, then no more.
    assert [(a["attempt"], a["status"]) for a in attempts] == [(n, 500) for n in (1, 2, 3, 4)]
    gaps = [
        later["at"] - earlier["at"] for earlier, later in zip(attempts, attempts[1:], strict=False)
    ]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, (0.05, 0.1, 0.2), strict=True)), gaps
    assert len(receiver.answers) == 6
    assert sandbox.client.v1.events.retrieve(event.id).pending_webhooks == 1
    assert [e.id for e in events_oldest_first(sandbox, delivery_success=False)] == [event.id]
    assert events_oldest_first(sandbox, delivery_success=True) == []


def test_refused_connection_is_retried_and_recorded_with_its_error(
    sandbox: SandboxControl,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/webhook"
    endpoint = sandbox.client.v1.webhook_endpoints.create(
        params={"url": closed, "enabled_events": ["customer.created"]}
    )
    sandbox.client.v1.customers.create(params={"name": "Ann"})
    assert sandbox.drain() == 0
    (event,) = events_oldest_first(sandbox)
    attempts = attempts_for(sandbox, event.id)
    assert [(a["attempt"], a["status"], a["endpoint"]) for a in attempts] == [
        (n, None, endpoint.id) for n in (1, 2, 3, 4)
    ]
    assert all("ConnectError" in a["error"] for a in attempts), attempts
    assert [e.id for e in events_oldest_first(sandbox, delivery_success=False)] == [event.id]


def test_endpoint_gets_only_the_event_types_it_enabled(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    with running_receiver() as paid_only:
        endpoint = sandbox.client.v1.webhook_endpoints.create(
            params={"url": paid_only.url, "enabled_events": ["invoice.paid"]}
        )
        paid_only.secret = endpoint.secret or ""
        send_and_pay(sandbox)
        assert sandbox.drain() == 0
    assert paid_only.rejected == []
    assert paid_only.types() == ["invoice.paid"]
    assert len(set(receiver.types())) == 12
    (paid,) = events_oldest_first(sandbox, type="invoice.paid")
    assert paid.pending_webhooks == 0
    to_paid_only = [a["event"] for a in sandbox.deliveries() if a["endpoint"] == endpoint.id]
    assert to_paid_only == [paid.id]


def test_deleted_endpoint_gets_no_later_events(sandbox: SandboxControl, receiver: Receiver) -> None:
    client = sandbox.client
    client.v1.customers.create(params={"name": "Before"})
    assert sandbox.drain() == 0
    deleted = client.v1.webhook_endpoints.delete(endpoint_id(sandbox, receiver.url))
    assert deleted.deleted is True
    client.v1.customers.create(params={"name": "After"})
    assert sandbox.drain() == 0
    before, after = events_oldest_first(sandbox)
    assert receiver.ids() == [before.id]
    assert attempts_for(sandbox, after.id) == []
    assert after.pending_webhooks == 0
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.retrieve(deleted.id)


def test_deleting_an_endpoint_stops_its_pending_retries(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    # Stripe: deleting (or disabling) an endpoint while an event is being retried prevents
    # the event's future retries to it.
    receiver.answers = [500] * 10
    sandbox.client.v1.customers.create(params={"name": "Ann"})
    (event,) = events_oldest_first(sandbox)
    deadline = time.monotonic() + 2
    while not attempts_for(sandbox, event.id) and time.monotonic() < deadline:
        sandbox.drain(timeout=0.01)
    sandbox.client.v1.webhook_endpoints.delete(endpoint_id(sandbox, receiver.url))
    seen_before_delete = len(attempts_for(sandbox, event.id))
    assert seen_before_delete >= 1
    assert sandbox.drain() == 0
    # At most the attempt that was in flight as the endpoint went away.
    assert len(attempts_for(sandbox, event.id)) <= seen_before_delete + 1


def test_chaos_duplicate_delivers_every_event_twice_with_the_same_id(
    sandbox: SandboxControl, receiver: Receiver, chaos: Callable[..., None]
) -> None:
    chaos(duplicate=1.0, max_delay=0.05, seed=3)
    send_and_pay(sandbox)
    assert sandbox.drain() == 0
    created = events_oldest_first(sandbox)
    assert Counter(receiver.ids()) == {event.id: 2 for event in created}
    assert receiver.rejected == []
    for event in created:
        attempts = attempts_for(sandbox, event.id)
        assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 200), (1, 200)]
    assert all(event.pending_webhooks == 0 for event in events_oldest_first(sandbox))


def test_chaos_reorder_delivers_the_same_events_in_another_order(
    sandbox: SandboxControl, receiver: Receiver, chaos: Callable[..., None]
) -> None:
    chaos(reorder=1.0, max_delay=0.3, seed=7)
    for number in range(30):
        sandbox.client.v1.customers.create(params={"name": f"Customer {number}"})
    assert sandbox.drain() == 0
    created = [event.id for event in events_oldest_first(sandbox)]
    received = receiver.ids()
    assert len(created) == 30
    assert sorted(received) == sorted(created)  # each once: reordering is not duplicating
    assert received != created


@pytest.mark.parametrize(
    "enabled_events, param",
    [
        (["invoice.payed"], "enabled_events[0]"),
        (["invoice.paid", "charge.captured"], "enabled_events[1]"),
    ],
)
def test_endpoint_create_refuses_an_unknown_event_type(
    sandbox: SandboxControl, enabled_events: list[str], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.webhook_endpoints.create(
            params={"url": "https://example.com/hook", "enabled_events": cast(Any, enabled_events)}
        )
    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert sandbox.client.v1.webhook_endpoints.list().data == []


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "example.com/hook",
        "ftp://example.com/hook",
        "http://",
        "https://exa mple.com/hook",  # a space in the host
        "http://[::1/hook",  # an unclosed IPv6 literal
    ],
)
def test_endpoint_create_refuses_a_bad_url(sandbox: SandboxControl, url: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.webhook_endpoints.create(
            params={"url": url, "enabled_events": ["invoice.paid"]}
        )
    assert refused.value.http_status == 400
    assert refused.value.param == "url"
    assert sandbox.client.v1.webhook_endpoints.list().data == []


def test_create_answer_carries_the_secret_but_retrieve_and_list_do_not(
    sandbox: SandboxControl,
) -> None:
    created = sandbox.http.post(
        "/v1/webhook_endpoints",
        data={"url": "https://example.com/hook", "enabled_events[0]": "invoice.paid"},
        headers=AUTH,
    )
    assert created.status_code == 200
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert len(endpoint["secret"]) > len("whsec_") + 30
    retrieved = sandbox.http.get(f"/v1/webhook_endpoints/{endpoint['id']}", headers=AUTH).json()
    listed = sandbox.http.get("/v1/webhook_endpoints", headers=AUTH).json()["data"]
    assert retrieved["id"] == endpoint["id"]
    assert [item["id"] for item in listed] == [endpoint["id"]]
    for shown in (retrieved, *listed):
        assert "secret" not in shown
        assert endpoint["secret"] not in json.dumps(shown)
    second = sandbox.client.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook2", "enabled_events": ["*"]}
    )
    assert second.secret is not None and second.secret != endpoint["secret"]


@pytest.mark.parametrize(
    "settings", [{"duplicate": 5}, {"reorder": -0.1}, {"max_delay": -1}, {"shuffle": 0.5}]
)
def test_chaos_control_refuses_invalid_settings(
    sandbox: SandboxControl, settings: dict[str, Any]
) -> None:
    response = sandbox.http.post("/_sandbox/chaos", json=settings)
    assert response.status_code == 400


def test_reset_puts_chaos_back_to_the_started_settings(sandbox: SandboxControl) -> None:
    sandbox.chaos(duplicate=1.0)
    sandbox.reset()
    with running_receiver() as fresh:
        endpoint = sandbox.client.v1.webhook_endpoints.create(
            params={"url": fresh.url, "enabled_events": ["customer.created"]}
        )
        fresh.secret = endpoint.secret or ""
        sandbox.client.v1.customers.create(params={"name": "Once"})
        assert sandbox.drain() == 0
        assert len(fresh.ids()) == 1
