"""The Stripe objects of money moving back, as typed values validated before any database
work: the InvoicePayment (which payment paid which invoice), the Refund, the Charge, the
Credit note and the Dispute, each with only the fields this system reads.

As with invoices (core.billing.event_schema), an event whose object is not of Stripe's
shape is recorded as `malformed` and answered 200.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from core.billing.event_schema import (
    MAX_DEPTH,
    Amount,
    MalformedObject,
    StripeId,
    Timestamp,
    depth,
)
from core.db.models import DISPUTE_STATUSES, REFUND_STATUSES

Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
Metadata = dict[str, Annotated[str, StringConstraints(max_length=500)]]
Text = Annotated[str, StringConstraints(max_length=5000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Ref(_Strict):
    """An expanded object where an id was expected: only its id is read."""

    id: StripeId


def _id(value: str | _Ref | None) -> str | None:
    return value.id if isinstance(value, _Ref) else value


class _PaymentRef(_Strict):
    type: str
    payment_intent: StripeId | _Ref | None = None


class InvoicePaymentObject(_Strict):
    id: StripeId
    object: Literal["invoice_payment"]
    invoice: StripeId | _Ref
    amount_paid: Amount | None = None
    currency: Currency
    status: str
    created: Timestamp
    payment: _PaymentRef

    @property
    def invoice_id(self) -> str:
        return _id(self.invoice) or ""

    @property
    def payment_intent_id(self) -> str | None:
        return _id(self.payment.payment_intent) if self.payment.type == "payment_intent" else None


class RefundObject(_Strict):
    id: StripeId
    object: Literal["refund"]
    amount: Annotated[int, Amount]
    currency: Currency
    status: Literal[REFUND_STATUSES]  # type: ignore[valid-type]
    created: Timestamp
    payment_intent: StripeId | _Ref | None = None
    charge: StripeId | _Ref | None = None
    reason: Annotated[str, StringConstraints(max_length=40)] | None = None
    metadata: Metadata | None = None

    @property
    def payment_intent_id(self) -> str | None:
        return _id(self.payment_intent)


class ChargeObject(_Strict):
    id: StripeId
    object: Literal["charge"]
    amount: Amount
    amount_refunded: Amount
    currency: Currency
    payment_intent: StripeId | _Ref | None = None
    metadata: Metadata | None = None

    @property
    def payment_intent_id(self) -> str | None:
        return _id(self.payment_intent)


class _CreditNoteRefund(_Strict):
    refund: StripeId | _Ref
    amount_refunded: Amount


class CreditNoteObject(_Strict):
    id: StripeId
    object: Literal["credit_note"]
    invoice: StripeId | _Ref
    amount: Amount
    currency: Currency
    status: str
    created: Timestamp
    reason: Annotated[str, StringConstraints(max_length=40)] | None = None
    memo: Text | None = None
    refunds: list[_CreditNoteRefund] = []
    metadata: Metadata | None = None

    @property
    def invoice_id(self) -> str:
        return _id(self.invoice) or ""

    def refunds_made(self) -> list[tuple[str, int]]:
        """(refund id, amount) of each refund the credit note made."""
        return [(_id(entry.refund) or "", entry.amount_refunded) for entry in self.refunds]


class _EvidenceDetails(_Strict):
    due_by: Timestamp | None = None


class DisputeObject(_Strict):
    id: StripeId
    object: Literal["dispute"]
    amount: Amount
    currency: Currency
    status: Literal[DISPUTE_STATUSES]  # type: ignore[valid-type]
    created: Timestamp
    charge: StripeId | _Ref | None = None
    payment_intent: StripeId | _Ref | None = None
    reason: Annotated[str, StringConstraints(max_length=40)] | None = None
    evidence_details: _EvidenceDetails | None = None
    metadata: Metadata | None = None

    @property
    def payment_intent_id(self) -> str | None:
        return _id(self.payment_intent)

    @property
    def due_by(self) -> int | None:
        return self.evidence_details.due_by if self.evidence_details else None


MoneyObject = InvoicePaymentObject | RefundObject | ChargeObject | CreditNoteObject | DisputeObject
_MODELS: dict[str, type[BaseModel]] = {
    "invoice_payment": InvoicePaymentObject,
    "refund": RefundObject,
    "charge": ChargeObject,
    "credit_note": CreditNoteObject,
    "dispute": DisputeObject,
}


def parse_money_object(obj: dict[str, Any], expected: str) -> Any:
    """The event's object as the `expected` kind of Stripe object, or MalformedObject."""
    if obj.get("object") != expected:
        raise MalformedObject(f"the event's object is not a {expected}")
    if depth(obj) > MAX_DEPTH:
        raise MalformedObject(f"the object nests deeper than {MAX_DEPTH} levels")
    try:
        return _MODELS[expected].model_validate(obj)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "object"
        raise MalformedObject(
            f"the {expected} in the event is not valid: {where}: {problem['msg']}"[:300]
        ) from None
