"""Stripe's webhook events as typed values, validated before any database work.

Two levels, because they get different answers:

- the **envelope** (`id`, `type`, `created`, `data.object`): without it a body is not a
  Stripe event at all, and intake answers 400;
- the **invoice** inside it: an event we can name but whose invoice is not one Stripe
  would send (a wrong type, a number out of range, a fraction of a cent, a four-letter
  currency) is recorded as `malformed` and answered 200, so Stripe stops retrying and a
  person can look at the row.

Every bound here is also a bound of a column the value lands in, so no value that passed
validation can make an insert fail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# Seconds since 1970, up to the year 2100: far outside this range is not a Stripe time.
Timestamp = Annotated[int, Field(strict=True, ge=0, le=4_102_444_800)]
# Minor units; Stripe's own limit is eight digits in most currencies, far below this.
Amount = Annotated[int, Field(strict=True, ge=0, le=10**12)]
StripeId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Url = Annotated[str, StringConstraints(max_length=2048)]
MAX_DEPTH = 32  # Stripe's objects nest a handful of levels; this is far past any of them
DATABASE_INT_MAX = 2**31 - 1  # our ids are 32-bit integers


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Data(_Strict):
    object: dict[str, Any]


class Envelope(_Strict):
    id: StripeId
    type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    created: Timestamp
    api_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    data: _Data


class _Transitions(_Strict):
    paid_at: Timestamp | None = None
    finalized_at: Timestamp | None = None


class _Lines(_Strict):
    data: list[Any] = []


class _CustomerRef(_Strict):
    id: StripeId


class InvoiceObject(_Strict):
    """The fields of a Stripe invoice this system reads, with Stripe's types."""

    id: StripeId
    object: Literal["invoice"]
    status: Literal["draft", "open", "paid", "uncollectible", "void"]
    customer: StripeId | _CustomerRef
    currency: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
    amount_due: Amount
    amount_paid: Amount
    amount_remaining: Amount
    number: Annotated[str, StringConstraints(max_length=100)] | None = None
    created: Timestamp
    due_date: Timestamp | None = None
    status_transitions: _Transitions | None = None
    hosted_invoice_url: Url | None = None
    invoice_pdf: Url | None = None
    metadata: dict[str, Annotated[str, StringConstraints(max_length=500)]] | None = None
    lines: _Lines | None = None

    @property
    def customer_id(self) -> str:
        return self.customer.id if isinstance(self.customer, _CustomerRef) else self.customer

    @property
    def paid_at(self) -> int | None:
        return self.status_transitions.paid_at if self.status_transitions else None

    @property
    def line_count(self) -> int:
        return len(self.lines.data) if self.lines else 0


class NotAStripeEvent(ValueError):
    """The body is signed but carries no event we could name (answered 400)."""


class MalformedObject(ValueError):
    """The event is named but its object is not what Stripe sends (recorded, answered 200)."""


def when(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (iteratively: deep input cannot overflow)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def parse_envelope(body: Any) -> Envelope:
    try:
        return Envelope.model_validate(body)
    except ValidationError as error:
        raise NotAStripeEvent(
            f"the body is signed but is not a Stripe event ({_first(error)})"
        ) from None


def parse_invoice(obj: dict[str, Any]) -> InvoiceObject:
    if depth(obj) > MAX_DEPTH:
        raise MalformedObject(f"the object nests deeper than {MAX_DEPTH} levels")
    try:
        return InvoiceObject.model_validate(obj)
    except ValidationError as error:
        raise MalformedObject(f"the invoice in the event is not valid: {_first(error)}") from None


def metadata_id(metadata: Any, key: str) -> int | None:
    """One of our ids from Stripe metadata: a decimal string naming a 32-bit id, else None."""
    if not isinstance(metadata, dict):
        return None
    text = metadata.get(key)
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= DATABASE_INT_MAX else None


def _first(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"[:300]
