"""What the system knows of Stripe's objects: small frozen values made from Stripe's JSON
(an API answer, or an event's object), validated by core.billing.event_schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.billing.event_schema import (
    InvoiceObject,
    metadata_id,
    parse_envelope,
    parse_invoice,
    when,
)
from core.billing.invoice_status import LIVE


@dataclass(frozen=True)
class InvoiceInfo:
    """What the system needs to know about a Stripe invoice."""

    id: str
    status: str
    customer: str
    currency: str
    amount_due: int
    amount_paid: int
    amount_remaining: int
    number: str | None
    created: datetime
    due_date: datetime | None
    paid_at: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    job_id: int | None
    payment_id: int | None
    line_count: int

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @classmethod
    def from_stripe(cls, invoice: Any) -> InvoiceInfo:
        return cls.from_dict(invoice.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvoiceInfo:
        """From an invoice as Stripe serializes it (an API answer or an event's object).

        Raises MalformedObject when it is not an invoice of Stripe's shape.
        """
        return cls.from_object(parse_invoice(data))

    @classmethod
    def from_object(cls, invoice: InvoiceObject) -> InvoiceInfo:
        return cls(
            id=invoice.id,
            status=invoice.status,
            customer=invoice.customer_id,
            currency=invoice.currency,
            amount_due=invoice.amount_due,
            amount_paid=invoice.amount_paid,
            amount_remaining=invoice.amount_remaining,
            number=invoice.number,
            created=when(invoice.created) or datetime.now(UTC),
            due_date=when(invoice.due_date),
            paid_at=when(invoice.paid_at),
            hosted_invoice_url=invoice.hosted_invoice_url,
            invoice_pdf=invoice.invoice_pdf,
            job_id=metadata_id(invoice.metadata, "job_id"),
            payment_id=metadata_id(invoice.metadata, "payment_id"),
            line_count=invoice.line_count,
        )


@dataclass(frozen=True)
class EventInfo:
    """A verified Stripe event: its id, type, creation time, object (a plain dict, validated
    only as far as the envelope goes) and the body as it came, for our records."""

    id: str
    type: str
    created: datetime
    api_version: str | None
    object: dict[str, Any]
    payload: str | None = None


def _event_info(body: Any, payload: str | None = None) -> EventInfo:
    envelope = parse_envelope(body)
    return EventInfo(
        id=envelope.id,
        type=envelope.type,
        created=when(envelope.created) or datetime.now(UTC),
        api_version=envelope.api_version,
        object=envelope.data.object,
        payload=payload,
    )


def event_from_payload(payload: str) -> EventInfo:
    """An event from a body we verified and stored before (replay from our own records)."""
    return _event_info(json.loads(payload), payload)
