"""`--data FILE`: the sandbox's Stripe state survives a restart; without it, it starts empty."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import stripe
from stripe.params import CustomerCreateParams

from tests.support.sandbox import SandboxControl, running_sandbox

IDEMPOTENCY_KEY = "persist-customer-once"
REPLAYED_PARAMS: CustomerCreateParams = {"name": "Replayed Rita", "metadata": {"kind": "replay"}}


def event_summary(client: stripe.StripeClient) -> list[tuple[str, str, int]]:
    events = client.v1.events.list(params={"limit": 100})
    assert events.has_more is False
    return [(event.id, event.type, event.created) for event in events.data]


def test_state_survives_a_restart_with_the_same_data_file(tmp_path: Path) -> None:
    data = tmp_path / "state.json"

    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        client = control.client
        customer = client.v1.customers.create(
            params={"name": "Ann", "email": "ann@example.com", "metadata": {"user_id": "7"}}
        )
        invoice = client.v1.invoices.create(
            params={
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 7,
                "metadata": {"job_id": "1"},
            }
        )
        client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
        )
        finalized = client.v1.invoices.finalize_invoice(invoice.id)
        assert finalized.status == "open" and finalized.number
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": "http://127.0.0.1:9/hooks", "enabled_events": ["invoice.paid"]}
        )
        events_before = event_summary(client)
        assert {"customer.created", "invoice.created", "invoice.finalized"} <= {
            event_type for _, event_type, _ in events_before
        }
        # The last change right before shutdown: only the save on shutdown can keep it,
        # as the background save runs once a second.
        replayed = client.v1.customers.create(
            params=REPLAYED_PARAMS, options={"idempotency_key": IDEMPOTENCY_KEY}
        )
        events_before = event_summary(client)
        control.http.close()

    assert data.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]
    saved = json.loads(data.read_text())
    assert IDEMPOTENCY_KEY in saved["idempotency"]

    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        client = control.client

        kept_customer = client.v1.customers.retrieve(customer.id)
        assert (kept_customer.name, kept_customer.email) == ("Ann", "ann@example.com")
        assert kept_customer.metadata is not None
        assert kept_customer.metadata.to_dict() == {"user_id": "7"}

        kept_invoice = client.v1.invoices.retrieve(invoice.id)
        assert kept_invoice.status == "open"
        assert kept_invoice.number == finalized.number
        assert kept_invoice.amount_due == 15000
        assert kept_invoice.due_date == finalized.due_date
        assert kept_invoice.hosted_invoice_url and finalized.hosted_invoice_url
        path = urlparse(kept_invoice.hosted_invoice_url).path
        assert path == urlparse(finalized.hosted_invoice_url).path == f"/i/{invoice.id}"
        page = control.http.get(path)
        assert page.status_code == 200
        assert finalized.number in page.text

        kept_endpoint = client.v1.webhook_endpoints.retrieve(endpoint.id)
        assert kept_endpoint.url == "http://127.0.0.1:9/hooks"
        assert kept_endpoint.enabled_events == ["invoice.paid"]

        assert event_summary(client) == events_before

        again = client.v1.customers.create(
            params=REPLAYED_PARAMS, options={"idempotency_key": IDEMPOTENCY_KEY}
        )
        assert again.id == replayed.id
        assert again.last_response is not None
        assert again.last_response.headers.get("Idempotent-Replayed") == "true"
        with pytest.raises(stripe.IdempotencyError):
            client.v1.customers.create(
                params={"name": "Someone else"}, options={"idempotency_key": IDEMPOTENCY_KEY}
            )

        # Numbering goes on from where it stopped: a second invoice does not reuse the number.
        second = client.v1.invoices.create(
            params={
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 7,
            }
        )
        client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": second.id, "amount": 500}
        )
        assert client.v1.invoices.finalize_invoice(second.id).number != finalized.number
        control.http.close()


def test_sandbox_without_a_data_file_starts_empty(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    with running_sandbox("--data", str(data)) as base:
        control = SandboxControl(base)
        control.client.v1.customers.create(params={"name": "Ann"})
        control.http.close()
    assert data.exists()

    with running_sandbox() as base:
        control = SandboxControl(base)
        client = control.client
        assert client.v1.customers.list().data == []
        assert client.v1.invoices.list().data == []
        assert client.v1.events.list().data == []
        assert client.v1.webhook_endpoints.list().data == []
        control.http.close()
