"""The money behind a paid invoice: a PaymentIntent, its Charge, and the InvoicePayment.

A card payment (the hosted page, `POST /v1/invoices/{id}/pay` with a payment method) leaves
a succeeded PaymentIntent and Charge. As in Stripe, neither names the invoice nor carries
its metadata: the InvoicePayment is the link (`GET /v1/invoice_payments?payment[type]=
payment_intent&payment[payment_intent]=pi_...` finds the invoice of a refund or a dispute).
The invoice shows its InvoicePayments, as the pinned API version does, in its `payments`
list (an includable field: `expand[]=payments`). A payment made outside Stripe
(`paid_out_of_band`) has none.
"""

from __future__ import annotations

from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject, new_id

# Stripe's includable lists carry "the first handful" of their items.
INCLUDED_PAYMENTS = 10


def record_card_payment(
    sandbox: Sandbox, invoice: StripeObject, payment_method: str, amount: int
) -> StripeObject:
    """Create the succeeded PaymentIntent, Charge and InvoicePayment for `amount`, with
    their events in Stripe's order; the invoice's own events follow."""
    now = sandbox.now()
    intent_id, charge_id = new_id("payment_intent"), new_id("charge")
    shared = {
        "amount": amount,
        "created": now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "description": f"Payment for Invoice {invoice['number']}",
        "livemode": False,
        "metadata": {},  # Stripe copies none of the invoice's metadata
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
    payment = sandbox.store.add(
        "invoice_payment",
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
            "payment": {
                "charge": None,  # surfaced only for a charge without a PaymentIntent
                "payment_intent": intent_id,
                "payment_record": None,
                "type": "payment_intent",
            },
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": now},
        },
    )
    invoice.setdefault("_payment_ids", []).append(payment["id"])
    sandbox.store.touch()
    sandbox.emit("payment_intent.created", intent)
    sandbox.emit("charge.succeeded", charge)
    sandbox.emit("payment_intent.succeeded", intent)
    sandbox.emit("invoice_payment.paid", payment)
    return charge


def payments_of(sandbox: Sandbox, invoice: StripeObject) -> list[StripeObject]:
    """The invoice's InvoicePayments, newest first."""
    found = (sandbox.store.get("invoice_payment", i) for i in invoice.get("_payment_ids", []))
    return [payment for payment in reversed(list(found)) if payment is not None]


def included_payments(sandbox: Sandbox, invoice: StripeObject) -> StripeObject:
    """The invoice's `payments` list, as `expand[]=payments` shows it."""
    found = payments_of(sandbox, invoice)
    return {
        "object": "list",
        "data": found[:INCLUDED_PAYMENTS],
        "has_more": len(found) > INCLUDED_PAYMENTS,
        "url": f"/v1/invoice_payments?invoice={invoice['id']}",
    }


def charge_of(sandbox: Sandbox, invoice: StripeObject) -> StripeObject | None:
    """The charge of the invoice's paid card payment, if it has one."""
    for payment in payments_of(sandbox, invoice):
        if payment["status"] != "paid" or payment["payment"]["type"] != "payment_intent":
            continue
        intent = sandbox.store.get("payment_intent", payment["payment"]["payment_intent"])
        charge = intent and sandbox.store.get("charge", intent["latest_charge"])
        if charge is not None:
            return charge
    return None
