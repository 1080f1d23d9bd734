"""StripeGateway against the sandbox: error mapping, retries, idempotency keys, paging,
webhook endpoints and signatures. No mock: every call crosses HTTP to the sandbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from core.billing.invoicing import oldest_first
from core.billing.stripe_gateway import StripeGateway
from core.billing.stripe_objects import InvoiceInfo
from core.config import Settings
from core.errors import (
    CardDeclined,
    InvalidInput,
    InvalidStripeRequest,
    RateLimited,
    StripeUnavailable,
)
from tests.support.receiver import Receiver
from tests.support.sandbox import SandboxControl, free_port

GATEWAY_KEY = "sk_test_gateway_tests"


def make_gateway(base: str, key: str = GATEWAY_KEY) -> StripeGateway:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        stripe_secret_key=SecretStr(key),
        stripe_api_base=base,
    )
    return StripeGateway(settings, rate_limit_backoff=0.01)


@pytest.fixture
def gateway(sandbox: SandboxControl) -> StripeGateway:
    return make_gateway(sandbox.base)


def armed(sandbox: SandboxControl) -> list[dict[str, Any]]:
    return list(sandbox.http.get("/_sandbox/faults").json()["faults"])


def customers(sandbox: SandboxControl) -> list[Any]:
    return list(sandbox.client.v1.customers.list(params={"limit": 100}).data)


def open_invoice(
    gateway: StripeGateway, *, job_id: int = 1, payment_id: int = 1, amount: int = 15000
) -> InvoiceInfo:
    customer = gateway.create_customer(
        user_id=job_id, name="Ann Lee", email="ann@example.com", phone=None
    )
    draft, _ = gateway.create_invoice(
        customer_id=customer, job_id=job_id, payment_id=payment_id, days_until_due=7
    )
    gateway.add_invoice_item(
        customer_id=customer,
        invoice_id=draft.id,
        amount=amount,
        description="Plumbing - Home Repair",
        job_id=job_id,
        payment_id=payment_id,
    )
    return gateway.finalize_invoice(draft.id)


# Error mapping


def test_a_declined_card_is_card_declined(gateway: StripeGateway, sandbox: SandboxControl) -> None:
    invoice = open_invoice(gateway)

    with pytest.raises(CardDeclined) as caught:
        gateway.pay_test_invoice(invoice.id, card="declined")

    assert caught.value.status_code == 402
    assert "declined" in caught.value.message
    remote = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert remote.status == "open"
    assert remote.attempt_count == 1


def test_an_injected_402_is_card_declined(gateway: StripeGateway, sandbox: SandboxControl) -> None:
    invoice = open_invoice(gateway)
    sandbox.fault("/v1/invoices/*/pay", method="POST", status=402)

    with pytest.raises(CardDeclined):
        gateway.pay_test_invoice(invoice.id, card="visa")

    assert gateway.retrieve_invoice(invoice.id).status == "open"
    assert gateway.pay_test_invoice(invoice.id, card="visa").status == "paid"


def test_an_unknown_test_card_is_refused_before_any_call(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    invoice = open_invoice(gateway)
    with pytest.raises(InvalidInput):
        gateway.pay_test_invoice(invoice.id, card="amex")
    assert gateway.retrieve_invoice(invoice.id).status == "open"


@pytest.mark.parametrize("status", [500, 503])
def test_lasting_server_errors_are_stripe_unavailable(
    gateway: StripeGateway, sandbox: SandboxControl, status: int
) -> None:
    sandbox.fault("/v1/customers", method="POST", status=status, count=5)

    with pytest.raises(StripeUnavailable) as caught:
        gateway.create_customer(user_id=1, name="Ann", email="ann@example.com", phone=None)

    assert caught.value.status_code == 503
    assert "customer_create" in caught.value.message
    # One try and the SDK's two retries used three of the five armed faults.
    assert [fault["count"] for fault in armed(sandbox)] == [2]
    assert customers(sandbox) == []


def test_an_unreachable_stripe_is_stripe_unavailable() -> None:
    gateway = make_gateway(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(StripeUnavailable) as caught:
        gateway.find_customer_id(1)

    assert "customer_search" in caught.value.message


def test_a_400_is_an_invalid_request_and_is_not_retried(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    sandbox.fault("/v1/customers", method="POST", status=400, count=2, message="Bad thing")

    with pytest.raises(InvalidStripeRequest) as caught:
        gateway.create_customer(user_id=1, name="Ann", email="ann@example.com", phone=None)

    assert caught.value.status_code == 502
    assert "customer_create" in caught.value.message
    assert "Bad thing" in caught.value.message
    assert [fault["count"] for fault in armed(sandbox)] == [1]
    assert customers(sandbox) == []


def test_a_missing_object_is_an_invalid_request(gateway: StripeGateway) -> None:
    with pytest.raises(InvalidStripeRequest) as caught:
        gateway.retrieve_invoice("in_does_not_exist")
    assert "in_does_not_exist" in caught.value.message


def test_a_bad_api_key_names_the_setting(sandbox: SandboxControl) -> None:
    gateway = make_gateway(sandbox.base, key="sk_live_x")

    with pytest.raises(InvalidStripeRequest) as caught:
        gateway.create_customer(user_id=1, name="Ann", email="ann@example.com", phone=None)

    assert "STRIPE_SECRET_KEY" in caught.value.message
    assert "sk_live_x" not in caught.value.message
    assert customers(sandbox) == []


def test_rate_limits_are_retried_with_backoff(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    sandbox.fault("/v1/customers", method="POST", status=429, count=2)

    customer_id = gateway.create_customer(
        user_id=1, name="Ann", email="ann@example.com", phone=None
    )

    assert [customer.id for customer in customers(sandbox)] == [customer_id]
    assert armed(sandbox) == []


def test_lasting_rate_limits_are_rate_limited(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    sandbox.fault("/v1/customers/search", method="GET", status=429, count=3)

    with pytest.raises(RateLimited) as caught:
        gateway.find_customer_id(1)

    assert caught.value.status_code == 503
    assert armed(sandbox) == []


# Retries and idempotency keys


@pytest.mark.parametrize("when", ["before", "after"])
def test_one_server_error_is_absorbed_and_the_customer_is_made_once(
    gateway: StripeGateway, sandbox: SandboxControl, when: str
) -> None:
    # "after": the sandbox creates the customer, then loses the answer; the retry carries
    # the same idempotency key and gets the first answer back.
    sandbox.fault("/v1/customers", method="POST", status=500, count=1, when=when)

    customer_id = gateway.create_customer(
        user_id=42, name="Ann Lee", email="ann@example.com", phone="+1-555-0100"
    )

    made = customers(sandbox)
    assert [customer.id for customer in made] == [customer_id]
    assert made[0].metadata["user_id"] == "42"
    assert made[0].phone == "+1-555-0100"
    assert armed(sandbox) == []


def test_creating_the_same_customer_twice_gives_one_customer(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    first = gateway.create_customer(user_id=7, name="Ann", email="ann@example.com", phone=None)
    second = gateway.create_customer(user_id=7, name="Ann", email="ann@example.com", phone=None)
    other = gateway.create_customer(user_id=8, name="Bob", email="bob@example.com", phone=None)

    assert first == second
    assert other != first
    assert sorted(customer.id for customer in customers(sandbox)) == sorted({first, other})


def test_find_customer_id_searches_by_user_metadata(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    assert gateway.find_customer_id(7) is None
    created = gateway.create_customer(user_id=7, name="Ann", email="ann@example.com", phone=None)
    gateway.create_customer(user_id=70, name="Bob", email="bob@example.com", phone=None)

    assert gateway.find_customer_id(7) == created


def test_creating_the_same_invoice_twice_gives_one_invoice(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    customer = gateway.create_customer(user_id=1, name="Ann", email="a@example.com", phone=None)

    first, first_replayed = gateway.create_invoice(
        customer_id=customer, job_id=5, payment_id=9, days_until_due=7
    )
    second, second_replayed = gateway.create_invoice(
        customer_id=customer, job_id=5, payment_id=9, days_until_due=7
    )
    other, _ = gateway.create_invoice(
        customer_id=customer, job_id=6, payment_id=10, days_until_due=7
    )

    assert first.id == second.id
    assert (first_replayed, second_replayed) == (False, True)  # Stripe said it replayed
    assert other.id != first.id
    assert (first.job_id, first.payment_id, first.status) == (5, 9, "draft")
    listed = sandbox.client.v1.invoices.list(params={"limit": 100}).data
    assert sorted(invoice.id for invoice in listed) == sorted({first.id, other.id})


def test_an_invoice_is_made_as_designed(gateway: StripeGateway, sandbox: SandboxControl) -> None:
    invoice = open_invoice(gateway, job_id=3, payment_id=4, amount=12345)

    assert invoice.status == "open"
    assert (invoice.job_id, invoice.payment_id) == (3, 4)
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (12345, 0, 12345)
    assert invoice.currency == "usd"
    assert invoice.line_count == 1
    assert invoice.is_live
    assert invoice.hosted_invoice_url and invoice.invoice_pdf and invoice.number
    assert invoice.due_date is not None
    assert timedelta(days=6) < invoice.due_date - invoice.created <= timedelta(days=8)
    remote = sandbox.client.v1.invoices.retrieve(invoice.id)
    assert remote.collection_method == "send_invoice"
    assert remote.auto_advance is False

    sent = gateway.send_invoice(invoice.id, idempotency_key=f"send:{invoice.id}")
    assert sent.status == "open"
    paid = gateway.pay_test_invoice(invoice.id, card="visa")
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 12345, 0)
    assert paid.paid_at is not None and paid.paid_at.tzinfo is not None


def test_a_keyed_send_is_sent_once_and_a_resend_again(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    invoice = open_invoice(gateway)

    def sent() -> int:
        events = sandbox.client.v1.events.list(params={"type": "invoice.sent", "limit": 100})
        return len(events.data)

    gateway.send_invoice(invoice.id, idempotency_key=f"send:{invoice.id}")
    gateway.send_invoice(invoice.id, idempotency_key=f"send:{invoice.id}")
    assert sent() == 1
    gateway.send_invoice(invoice.id)
    assert sent() == 2


# Paging


@pytest.mark.slow
def test_invoices_for_job_reads_every_page_newest_first(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    customer = sandbox.client.v1.customers.create(params={"name": "Ann"})
    made: list[str] = []
    for index in range(103):
        invoice = sandbox.client.v1.invoices.create(
            params={
                "customer": customer.id,
                "metadata": {"job_id": "7", "payment_id": str(index + 1)},
            }
        )
        made.append(invoice.id)
        if index < 2:
            sandbox.client.v1.invoices.create(
                params={"customer": customer.id, "metadata": {"job_id": "8"}}
            )
        sandbox.advance_clock(1)  # distinct creation times, so the order is checkable

    found = gateway.invoices_for_job(7)

    assert [invoice.id for invoice in found] == made[::-1]  # as Stripe lists: newest first
    assert {invoice.job_id for invoice in found} == {7}
    assert [invoice.payment_id for invoice in found] == list(range(103, 0, -1))
    assert [i.id for i in oldest_first(found)] == made
    assert len(gateway.invoices_for_job(8)) == 2
    assert gateway.invoices_for_job(9) == []


# Webhook endpoints and signatures


def endpoint_urls(sandbox: SandboxControl) -> list[str]:
    listing = sandbox.client.v1.webhook_endpoints.list(params={"limit": 100})
    return sorted(endpoint.url for endpoint in listing.data)


def test_replace_webhook_endpoint_keeps_one_per_url(
    gateway: StripeGateway, sandbox: SandboxControl
) -> None:
    url = "http://127.0.0.1:9/payments/stripe/webhook"
    other = sandbox.client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/elsewhere", "enabled_events": ["*"]}
    )
    sandbox.client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})

    first = gateway.replace_webhook_endpoint(url, ["invoice.paid"])
    second = gateway.replace_webhook_endpoint(url, ["invoice.paid", "invoice.payment_failed"])

    assert first.startswith("whsec_") and second.startswith("whsec_")
    assert first != second
    assert endpoint_urls(sandbox) == sorted([url, other.url])
    endpoints = sandbox.client.v1.webhook_endpoints.list(params={"limit": 100}).data
    ours = next(endpoint for endpoint in endpoints if endpoint.url == url)
    assert sorted(ours.enabled_events) == ["invoice.paid", "invoice.payment_failed"]


def test_the_returned_secret_verifies_the_sandbox_deliveries(
    gateway: StripeGateway, sandbox: SandboxControl, receiver: Receiver
) -> None:
    secret = gateway.replace_webhook_endpoint(receiver.url, ["customer.created"])
    receiver.secret = secret  # the receiver fixture's own endpoint was replaced

    customer_id = gateway.create_customer(user_id=1, name="Ann", email="a@example.com", phone=None)
    assert sandbox.drain() == 0

    assert len(receiver.raw) == 1  # one endpoint for the URL, so one delivery
    headers, body = receiver.raw[0]
    signature = next(value for name, value in headers.items() if name.lower() == "stripe-signature")
    event = StripeGateway.verify_event(body, signature, secret)
    assert event.type == "customer.created"
    assert event.id.startswith("evt_")
    assert event.object["id"] == customer_id
    assert event.created.tzinfo is not None
    with pytest.raises(ValueError):
        StripeGateway.verify_event(body, signature, "whsec_someone_else")


SECRET = "whsec_test_secret"


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_body(**overrides: Any) -> bytes:
    event: dict[str, Any] = {
        "id": "evt_123",
        "object": "event",
        "type": "invoice.paid",
        "created": 1_780_000_000,
        "api_version": "2025-01-01",
        "data": {"object": {"id": "in_1", "object": "invoice", "metadata": {"job_id": "4"}}},
    }
    event.update(overrides)
    return json.dumps(event).encode()


def test_verify_event_accepts_a_good_signature() -> None:
    body = event_body()

    event = StripeGateway.verify_event(body, sign(body), SECRET)

    assert (event.id, event.type, event.api_version) == ("evt_123", "invoice.paid", "2025-01-01")
    assert event.created == datetime.fromtimestamp(1_780_000_000, UTC)
    assert event.object == {"id": "in_1", "object": "invoice", "metadata": {"job_id": "4"}}


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "stale timestamp", "garbage", "none"],
)
def test_verify_event_refuses_bad_signatures(case: str) -> None:
    body = event_body()
    header: str | None = {
        "wrong secret": sign(body, secret="whsec_other"),
        "tampered body": sign(event_body(type="invoice.voided")),
        "stale timestamp": sign(body, timestamp=int(time.time()) - 600),
        "garbage": "not a signature",
        "none": None,
    }[case]

    with pytest.raises(ValueError):
        StripeGateway.verify_event(body, header, SECRET)


def test_verify_event_refuses_an_empty_secret() -> None:
    body = event_body()
    with pytest.raises(ValueError, match="secret"):
        StripeGateway.verify_event(body, sign(body, secret=""), "")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe", b"[]", b'{"id": "evt_1", "object": "event"}'],
    ids=["not json", "not utf-8", "a list", "no data"],
)
def test_verify_event_refuses_a_signed_body_that_is_not_an_event(body: bytes) -> None:
    # The docstring promises ValueError for a malformed body, so the webhook route answers
    # 400 rather than crashing with 500 (which would make Stripe retry it for days).
    with pytest.raises(ValueError):
        StripeGateway.verify_event(body, sign(body), SECRET)


# InvoiceInfo


def invoice_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "in_1",
        "object": "invoice",
        "status": "open",
        "customer": "cus_1",
        "currency": "usd",
        "amount_due": 15000,
        "amount_paid": 0,
        "amount_remaining": 15000,
        "number": "ABC-0001",
        "created": 1_780_000_000,
        "due_date": 1_780_604_800,
        "status_transitions": {"paid_at": None},
        "hosted_invoice_url": "https://pay.example/i/1",
        "invoice_pdf": "https://pay.example/i/1.pdf",
        "metadata": {"job_id": "12", "payment_id": "34"},
        "lines": {"data": [{"id": "il_1"}, {"id": "il_2"}]},
    }
    data.update(overrides)
    return data


def test_invoice_info_reads_metadata_ids_and_times() -> None:
    info = InvoiceInfo.from_dict(invoice_dict())

    assert (info.job_id, info.payment_id) == (12, 34)
    assert info.customer == "cus_1"
    assert info.created == datetime.fromtimestamp(1_780_000_000, UTC)
    assert info.due_date == datetime.fromtimestamp(1_780_604_800, UTC)
    assert info.paid_at is None
    assert info.line_count == 2
    assert info.is_live


@pytest.mark.parametrize(
    "metadata", [{}, None, {"job_id": "", "payment_id": "x"}, {"job_id": "1.5"}]
)
def test_invoice_info_without_usable_metadata_ids(metadata: Any) -> None:
    info = InvoiceInfo.from_dict(invoice_dict(metadata=metadata))
    assert (info.job_id, info.payment_id) == (None, None)


def test_invoice_info_reads_an_expanded_customer_and_a_paid_time() -> None:
    info = InvoiceInfo.from_dict(
        invoice_dict(
            customer={"id": "cus_9", "object": "customer"},
            status="paid",
            status_transitions={"paid_at": 1_780_100_000},
            lines=None,
        )
    )
    assert info.customer == "cus_9"
    assert info.paid_at == datetime.fromtimestamp(1_780_100_000, UTC)
    assert info.line_count == 0


@pytest.mark.parametrize(
    ("status", "live"),
    [("draft", False), ("open", True), ("paid", True), ("void", False), ("uncollectible", False)],
)
def test_only_open_and_paid_invoices_are_live(status: str, live: bool) -> None:
    assert InvoiceInfo.from_dict(invoice_dict(status=status)).is_live is live
