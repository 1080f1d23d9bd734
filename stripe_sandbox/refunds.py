"""Refunds of a charge, made directly (`POST /v1/refunds`) or by a credit note.

A charge can be refunded in parts up to what was captured; each refund succeeds at once,
as test-mode card refunds do, and emits `refund.created` then `charge.refunded`.
"""

from __future__ import annotations

from typing import Any

from stripe_sandbox.errors import invalid_request
from stripe_sandbox.money import format_amount
from stripe_sandbox.objects import clean_metadata
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject, new_id

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refund_charge(
    sandbox: Sandbox,
    charge: StripeObject,
    amount: int | None = None,
    *,
    reason: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> StripeObject:
    """Refund `amount` (all that is left when None) of the charge, or refuse as Stripe does."""
    amount = refundable(charge, amount)
    refund = sandbox.store.add(
        "refund",
        {
            "id": new_id("refund"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": sandbox.now(),
            "currency": charge["currency"],
            "metadata": clean_metadata(metadata),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        },
    )
    before = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    changed = {key: value for key, value in before.items() if charge[key] != value}
    sandbox.store.touch()
    sandbox.emit("refund.created", refund)
    sandbox.emit("charge.refunded", charge, previous_attributes=changed)
    return refund


def refundable(charge: StripeObject, amount: int | None = None, *, param: str = "amount") -> int:
    """The amount a refund of the charge would take (all that is left when None), or
    Stripe's refusal: a disputed charge, one already refunded, or more than is left."""
    if charge["disputed"]:
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    left = charge["amount_captured"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = left if amount is None else amount
    if amount > left:
        currency = charge["currency"]
        raise invalid_request(
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded "
            f"amount on charge ({format_amount(left, currency)})",
            param=param,
            code="amount_too_large",
        )
    return amount
