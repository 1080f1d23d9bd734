"""The money behind a paid invoice: a PaymentIntent, its Charge, and the InvoicePayment.

A card payment (the hosted page, `POST /v1/invoices/{id}/pay` with a payment method) leaves
a succeeded PaymentIntent and Charge carrying the invoice's metadata, so that a refund or a
dispute can be traced back to what was invoiced. The invoice shows them, as the pinned API
version does, in its `payments` list (an includable field: `expand[]=payments`).
"""

from __future__ import annotations

from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject, new_id


def record_card_payment(
    sandbox: Sandbox, invoice: StripeObject, payment_method: str, amount: int
) -> StripeObject:
    """Create the succeeded PaymentIntent and Charge for `amount` and attach them."""
    now = sandbox.now()
    intent_id, charge_id = new_id("payment_intent"), new_id("charge")
    shared = {
        "amount": amount,
        "created": now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "description": f"Payment for Invoice {invoice['number']}",
        "livemode": False,
        "metadata": dict(invoice["metadata"]),
        "payment_method": payment_method,
    }
    intent = sandbox.store.add(
        "payment_intent",
        {
            "id": intent_id,
            "object": "payment_intent",
            **shared,
            "amount_capturable": 0,
            "amount_received": amount,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "latest_charge": charge_id,
            "payment_method_types": ["card"],
            "status": "succeeded",
        },
    )
    charge = sandbox.store.add(
        "charge",
        {
            "id": charge_id,
            "object": "charge",
            **shared,
            "amount_captured": amount,
            "amount_refunded": 0,
            "captured": True,
            "disputed": False,
            "paid": True,
            "payment_intent": intent_id,
            "refunded": False,
            "status": "succeeded",
        },
    )
    invoice_payments(invoice)["data"].insert(
        0,
        {
            "id": new_id("invoice_payment"),
            "object": "invoice_payment",
            "amount_paid": amount,
            "amount_requested": amount,
            "created": now,
            "currency": invoice["currency"],
            "invoice": invoice["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": now},
        },
    )
    sandbox.emit("payment_intent.created", intent)
    sandbox.emit("charge.succeeded", charge)
    sandbox.emit("payment_intent.succeeded", intent)
    return charge


def invoice_payments(invoice: StripeObject) -> StripeObject:
    """The invoice's `payments` list, kept privately until a caller includes it."""
    payments: StripeObject = invoice.setdefault(
        "_payments",
        {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoice_payments?invoice={invoice['id']}",
        },
    )
    return payments
