"""Stripe objects as the API returns them, for the API version the SDK pins.

Only fields the sandbox gives real meaning are present; a field it does not model is
absent rather than invented (the fidelity tests check every field against the SDK).
"""

from __future__ import annotations

import secrets
from typing import Any

from stripe_sandbox.store import StripeObject, new_id


def customer(params: dict[str, Any], now: int) -> StripeObject:
    return {
        "id": new_id("customer"),
        "object": "customer",
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "email": params.get("email"),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "livemode": False,
        "metadata": clean_metadata(params.get("metadata")),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": [],
        "tax_exempt": "none",
        "test_clock": None,
        # The balance per currency; `balance` shows the one in the customer's `currency`.
        "_balances": {},
    }


def invoice(params: dict[str, Any], buyer: StripeObject, now: int) -> StripeObject:
    days = params.get("days_until_due")
    due_date = params.get("due_date") or (now + days * 86400 if days is not None else None)
    invoice_id = new_id("invoice")
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": params.get("auto_advance", False),
        # Stripe Tax is off and the account itself issues the invoice: the sandbox has no
        # tax, connected accounts or per-invoice payment settings.
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_reason": "manual",
        "collection_method": params.get("collection_method") or "charge_automatically",
        "created": now,
        "currency": params.get("currency") or buyer.get("currency") or "usd",
        "custom_fields": params.get("custom_fields"),
        "customer": buyer["id"],
        "customer_email": buyer.get("email"),
        "customer_name": buyer.get("name"),
        "customer_phone": buyer.get("phone"),
        "customer_tax_exempt": buyer.get("tax_exempt", "none"),
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "due_date": due_date,
        "effective_at": None,
        "ending_balance": None,
        "footer": params.get("footer"),
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": clean_metadata(params.get("metadata")),
        "next_payment_attempt": None,
        "number": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "webhooks_delivered_at": None,
        # Kept for the sandbox's own use: Stripe computes the due date when it finalizes.
        "_days_until_due": days,
    }


def invoice_item(params: dict[str, Any], currency: str, now: int) -> StripeObject:
    return {
        "id": new_id("invoiceitem"),
        "object": "invoiceitem",
        "amount": params["amount"],
        "currency": currency,
        "customer": params["customer"],
        "date": now,
        "description": params.get("description"),
        "discountable": True,
        "discounts": [],
        "invoice": params.get("invoice"),
        "livemode": False,
        "metadata": clean_metadata(params.get("metadata")),
        "net_amount": params["amount"],
        "parent": None,
        "period": {"end": now, "start": now},
        "proration": False,
        "quantity": 1,
        "quantity_decimal": "1",
        "tax_rates": [],
        "test_clock": None,
    }


def line_item(item: StripeObject, invoice_id: str) -> StripeObject:
    """The invoice line an invoice item becomes once it is on an invoice."""
    return {
        "id": new_id("line_item"),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "quantity": 1,
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


def webhook_endpoint(params: dict[str, Any], now: int) -> StripeObject:
    return {
        "id": new_id("webhook_endpoint"),
        "object": "webhook_endpoint",
        "api_version": params.get("api_version"),
        "application": None,
        "created": now,
        "description": params.get("description"),
        "enabled_events": params["enabled_events"],
        "livemode": False,
        "metadata": clean_metadata(params.get("metadata")),
        "secret": "whsec_" + secrets.token_urlsafe(32),
        "status": "enabled",
        "url": params["url"],
    }


def event(
    type_: str,
    data_object: StripeObject,
    *,
    now: int,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
    previous_attributes: dict[str, Any] | None = None,
    pending_webhooks: int = 0,
) -> StripeObject:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("event"),
        "object": "event",
        "api_version": api_version,
        "created": now,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }


def public(obj: StripeObject) -> StripeObject:
    """The object as the API shows it: without the sandbox's private `_` fields."""
    shown = {key: value for key, value in obj.items() if not key.startswith("_")}
    if obj.get("object") in ("list", "search_result"):
        shown["data"] = [public(item) for item in obj["data"]]
    return shown


def clean_metadata(metadata: dict[str, str | None] | None) -> dict[str, str]:
    return {key: value for key, value in (metadata or {}).items() if value is not None}
