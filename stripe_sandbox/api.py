"""The Stripe endpoints the system uses, with Stripe's paths, parameters and answers.

Each route declares the parameters it accepts (a `Spec`) and a handler that runs under the
store's lock with validated parameters. The server wraps them in auth, idempotency,
faults and expansion.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stripe_sandbox import credit_notes, disputes, invoices, objects, refunds, search
from stripe_sandbox.errors import invalid_request, no_such
from stripe_sandbox.money import CURRENCIES
from stripe_sandbox.params import (
    LIST_PARAMS,
    SEARCH_PARAMS,
    Param,
    Spec,
    as_list,
    boolean,
    custom_fields,
    in_range,
    integer,
    metadata,
    one_of,
    string,
    text,
    timestamp_range,
)
from stripe_sandbox.sandbox import EVENT_TYPES, Sandbox
from stripe_sandbox.store import StripeObject

Handler = Callable[[Sandbox, dict[str, Any], Mapping[str, str]], dict[str, Any]]

KIND_LABEL = {
    "customer": "customer",
    "invoice": "invoice",
    "invoiceitem": "invoiceitem",
    "event": "event",
    "webhook_endpoint": "webhook_endpoint",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "credit_note": "credit_note",
    "dispute": "dispute",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    spec: Spec
    handler: Handler


def fetch(sandbox: Sandbox, kind: str, object_id: str, *, param: str = "id") -> StripeObject:
    """An object by id, or Stripe's resource_missing (404 for the path, 400 for a parameter)."""
    obj = sandbox.store.get(kind, object_id)
    if obj is None:
        raise no_such(
            KIND_LABEL[kind], object_id, param=param, status=404 if param == "id" else 400
        )
    return obj


def list_page(
    sandbox: Sandbox,
    kind: str,
    params: dict[str, Any],
    url: str,
    keep: Callable[[StripeObject], bool] = lambda _: True,
) -> dict[str, Any]:
    for cursor in ("starting_after", "ending_before"):
        if params.get(cursor) and not sandbox.store.knows(kind, params[cursor]):
            raise no_such(KIND_LABEL[kind], params[cursor], param=cursor, status=400)
    if params.get("starting_after") and params.get("ending_before"):
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    items, has_more = sandbox.store.page(
        kind,
        keep,
        limit=params.get("limit") or 10,
        starting_after=params.get("starting_after"),
        ending_before=params.get("ending_before"),
    )
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def search_page(
    sandbox: Sandbox, kind: str, resource: str, params: dict[str, Any]
) -> dict[str, Any]:
    matches = search.parse(params["query"], resource)
    indexed_before = sandbox.now() - sandbox.config.search_lag
    offset = _page_offset(params.get("page"))
    limit = params.get("limit") or 10
    indexed = matches.metadata_equality()
    candidates = (
        sandbox.store.with_metadata(kind, *indexed)
        if indexed is not None
        else sandbox.store.newest_first(kind)
    )
    found = [
        obj
        for obj in candidates
        if (sandbox.config.search_lag <= 0 or obj["created"] <= indexed_before) and matches(obj)
    ]
    page = found[offset : offset + limit]
    has_more = offset + limit < len(found)
    next_page = (
        base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode() if has_more else None
    )
    return {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": next_page,
        "url": f"/v1/{resource}/search",
    }


def _page_offset(page: str | None) -> int:
    if not page:
        return 0
    try:
        text = base64.urlsafe_b64decode(page.encode()).decode()
        if not text.startswith("o:"):
            raise ValueError(text)
        return int(text[2:])
    except ValueError:
        raise invalid_request("Invalid page token.", param="page") from None


# Customers


def create_customer(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    customer = sb.store.add("customer", objects.customer(p, sb.now()))
    sb.emit("customer.created", customer)
    return customer


def list_customers(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    created = p.get("created")
    return list_page(
        sb,
        "customer",
        p,
        "/v1/customers",
        lambda c: (
            (p.get("email") is None or c["email"] == p["email"])
            and (created is None or in_range(c["created"], created))
        ),
    )


# Invoices


def create_invoice(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    buyer = fetch(sb, "customer", p["customer"], param="customer")
    method = p.get("collection_method") or "charge_automatically"
    has_days, has_date = p.get("days_until_due") is not None, p.get("due_date") is not None
    if method == "send_invoice" and not (has_days or has_date):
        raise invalid_request(
            "Invoices with collection_method=send_invoice need days_until_due or due_date.",
            param="days_until_due",
        )
    if method == "charge_automatically" and (has_days or has_date):
        raise invalid_request(
            "days_until_due and due_date can only be set when collection_method=send_invoice.",
            param="days_until_due" if has_days else "due_date",
        )
    if has_days and has_date:
        raise invalid_request(
            "You may only specify one of these parameters: days_until_due, due_date.",
            param="due_date",
        )
    invoice = sb.store.add("invoice", objects.invoice(p, buyer, sb.now()))
    invoice["starting_balance"] = invoices.customer_balance(buyer, invoice["currency"])
    if p.get("pending_invoice_items_behavior") == "include":
        for item in sb.store.newest_first("invoiceitem"):
            pending = item["customer"] == buyer["id"] and item["invoice"] is None
            if pending and item["currency"] == invoice["currency"]:
                item["invoice"] = invoice["id"]
                invoice["lines"]["data"].insert(0, objects.line_item(item, invoice["id"]))
        invoices.recompute_amounts(invoice)
    sb.emit("invoice.created", invoice)
    return invoice


def list_invoices(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    def keep(invoice: StripeObject) -> bool:
        return (
            (p.get("customer") is None or invoice["customer"] == p["customer"])
            and (p.get("status") is None or invoice["status"] == p["status"])
            and (
                p.get("collection_method") is None
                or invoice["collection_method"] == p["collection_method"]
            )
            and (p.get("created") is None or in_range(invoice["created"], p["created"]))
            and (
                p.get("due_date") is None
                or (
                    invoice["due_date"] is not None and in_range(invoice["due_date"], p["due_date"])
                )
            )
        )

    return list_page(sb, "invoice", p, "/v1/invoices", keep)


def invoice_action(action: str) -> Handler:
    def handle(sb: Sandbox, p: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
        invoice = fetch(sb, "invoice", ids["id"])
        if action == "finalize":
            invoices.finalize(sb, invoice, p.get("auto_advance"))
        elif action == "send":
            invoices.send(sb, invoice)
        elif action == "pay":
            invoices.pay(
                sb,
                invoice,
                payment_method=p.get("payment_method"),
                paid_out_of_band=bool(p.get("paid_out_of_band")),
            )
        elif action == "void":
            invoices.void(sb, invoice)
        elif action == "mark_uncollectible":
            invoices.mark_uncollectible(sb, invoice)
        elif action == "delete":
            return invoices.delete(sb, invoice)
        return invoice

    return handle


def list_lines(sb: Sandbox, p: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """An invoice's lines in invoice order, with Stripe's cursors."""
    lines: list[StripeObject] = fetch(sb, "invoice", ids["id"])["lines"]["data"]
    positions = [line["id"] for line in lines]
    limit = p.get("limit") or 10
    start, end = 0, len(lines)
    for cursor in ("starting_after", "ending_before"):
        if p.get(cursor) and p[cursor] not in positions:
            raise no_such("line_item", p[cursor], param=cursor, status=400)
    if p.get("starting_after"):
        start = positions.index(p["starting_after"]) + 1
    if p.get("ending_before"):
        end = positions.index(p["ending_before"])
        start = max(end - limit, 0)
        has_more = start > 0
    else:
        has_more = start + limit < end
    return {
        "object": "list",
        "data": lines[start : min(start + limit, end)],
        "has_more": has_more,
        "url": f"/v1/invoices/{ids['id']}/lines",
    }


# Invoice items


def create_invoice_item(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    buyer = fetch(sb, "customer", p["customer"], param="customer")
    invoice = fetch(sb, "invoice", p["invoice"], param="invoice") if p.get("invoice") else None
    if invoice is not None and invoice["customer"] != buyer["id"]:
        raise invalid_request(
            f"The invoice {invoice['id']} belongs to another customer.", param="invoice"
        )
    currency = p.get("currency") or (invoice or buyer).get("currency") or "usd"
    if invoice is not None and currency != invoice["currency"]:
        raise invalid_request(
            f"The currency {currency} does not match the invoice's {invoice['currency']}.",
            param="currency",
        )
    if invoice is not None:
        invoices.require_draft(invoice)
    item = sb.store.add("invoiceitem", objects.invoice_item(p, currency, sb.now()))
    sb.emit("invoiceitem.created", item)
    if invoice is not None:
        invoices.add_item(sb, invoice, item)
    return item


def list_invoice_items(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    return list_page(
        sb,
        "invoiceitem",
        p,
        "/v1/invoiceitems",
        lambda i: (
            (p.get("customer") is None or i["customer"] == p["customer"])
            and (p.get("invoice") is None or i["invoice"] == p["invoice"])
            and (p.get("pending") is None or (i["invoice"] is None) == p["pending"])
        ),
    )


# Refunds


def create_refund(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    if p.get("charge") and p.get("payment_intent"):
        raise invalid_request(
            "You may only specify one of these parameters: charge, payment_intent.",
            param="payment_intent",
        )
    if p.get("payment_intent"):
        intent = fetch(sb, "payment_intent", p["payment_intent"], param="payment_intent")
        charge = fetch(sb, "charge", intent["latest_charge"], param="payment_intent")
    elif p.get("charge"):
        charge = fetch(sb, "charge", p["charge"], param="charge")
    else:
        raise invalid_request(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            code="parameter_missing",
        )
    return refunds.refund_charge(
        sb, charge, p.get("amount"), reason=p.get("reason"), metadata=p.get("metadata")
    )


# Credit notes


def create_credit_note(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    return credit_notes.issue(sb, fetch(sb, "invoice", p["invoice"], param="invoice"), p)


def preview_credit_note(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    return credit_notes.build(sb, fetch(sb, "invoice", p["invoice"], param="invoice"), p)


def list_credit_notes(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    return list_page(
        sb,
        "credit_note",
        p,
        "/v1/credit_notes",
        lambda n: (
            (p.get("invoice") is None or n["invoice"] == p["invoice"])
            and (p.get("customer") is None or n["customer"] == p["customer"])
        ),
    )


def void_credit_note(sb: Sandbox, _: dict[str, Any], ids: Mapping[str, str]) -> StripeObject:
    return credit_notes.void(sb, fetch(sb, "credit_note", ids["id"]))


def update_dispute(sb: Sandbox, p: dict[str, Any], ids: Mapping[str, str]) -> StripeObject:
    return disputes.update(sb, fetch(sb, "dispute", ids["id"]), p)


# Events


def list_events(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    if p.get("type") and p.get("types"):
        raise invalid_request(
            "You may only specify one of these parameters: type, types.", param="types"
        )
    patterns = p.get("types") or ([p["type"]] if p.get("type") else [])
    compiled = [re.compile(re.escape(x).replace(r"\*", ".*") + "$") for x in patterns]

    def keep(event: StripeObject) -> bool:
        return (
            (not compiled or any(c.match(event["type"]) for c in compiled))
            and (p.get("created") is None or in_range(event["created"], p["created"]))
            and (
                p.get("delivery_success") is None
                or (event["pending_webhooks"] == 0) == p["delivery_success"]
            )
        )

    return list_page(sb, "event", p, "/v1/events", keep)


# Webhook endpoints


def create_webhook_endpoint(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> StripeObject:
    if not _is_web_url(p["url"]):
        raise invalid_request(
            f"Invalid URL: {p['url']}. URLs must be absolute http or https addresses.",
            param="url",
        )
    for index, event_type in enumerate(p["enabled_events"]):
        if event_type != "*" and event_type not in EVENT_TYPES:
            raise invalid_request(
                f"Invalid enabled_events[{index}]: {event_type} is not an event type "
                "the sandbox emits.",
                param=f"enabled_events[{index}]",
            )
    endpoint = objects.webhook_endpoint(p, sb.now())
    endpoint["_secret"] = endpoint.pop("secret")
    sb.store.add("webhook_endpoint", endpoint)
    # Stripe shows the signing secret once, in the answer to the create call.
    return {**endpoint, "secret": endpoint["_secret"]}


def _is_web_url(text: str) -> bool:
    if any(char.isspace() for char in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port or IPv6 host
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def delete_webhook_endpoint(
    sb: Sandbox, _: dict[str, Any], ids: Mapping[str, str]
) -> dict[str, Any]:
    fetch(sb, "webhook_endpoint", ids["id"])
    sb.store.remove("webhook_endpoint", ids["id"])
    return {"id": ids["id"], "object": "webhook_endpoint", "deleted": True}


def retrieve(kind: str) -> Handler:
    return lambda sb, _, ids: fetch(sb, kind, ids["id"])


def lister(kind: str, url: str) -> Handler:
    return lambda sb, p, _: list_page(sb, kind, p, url)


def searcher(kind: str, resource: str) -> Handler:
    return lambda sb, p, _: search_page(sb, kind, resource, p)


NO_PARAMS = Spec()
DELETE_PARAMS = Spec(expandable=False)  # Stripe's delete calls take no parameters at all
ID = Param(string)
METADATA = Param(metadata)
CREATED = Param(timestamp_range)
AMOUNT_PART = Param(integer(0, 99_999_999))
CREDIT_NOTE_PARAMS = Spec(
    {
        "invoice": Param(string, required=True),
        "amount": Param(integer(1, 99_999_999)),
        "lines": Param(as_list(credit_notes.line)),
        "refund_amount": AMOUNT_PART,
        "credit_amount": AMOUNT_PART,
        "out_of_band_amount": AMOUNT_PART,
        "reason": Param(one_of(*credit_notes.REASONS)),
        "memo": Param(text(5000)),
        "metadata": METADATA,
    }
)

ROUTES = [
    Route(
        "POST",
        "/v1/customers",
        Spec(
            {
                "name": Param(string),
                "email": Param(string),
                "phone": Param(string),
                "description": Param(string),
                "metadata": METADATA,
            }
        ),
        create_customer,
    ),
    Route("GET", "/v1/customers/search", Spec(SEARCH_PARAMS), searcher("customer", "customers")),
    Route("GET", "/v1/customers/{id}", NO_PARAMS, retrieve("customer")),
    Route(
        "GET",
        "/v1/customers",
        Spec({**LIST_PARAMS, "email": Param(string), "created": CREATED}),
        list_customers,
    ),
    Route(
        "POST",
        "/v1/invoices",
        Spec(
            {
                "customer": Param(string, required=True),
                "auto_advance": Param(boolean),
                "collection_method": Param(one_of("charge_automatically", "send_invoice")),
                "days_until_due": Param(integer(0, 3650)),
                "due_date": Param(integer(0)),
                "currency": Param(one_of(*CURRENCIES)),
                # The memo and footer as long as Stripe takes them.
                "description": Param(text(500)),
                "footer": Param(text(5000)),
                "custom_fields": Param(custom_fields),
                "metadata": METADATA,
                "pending_invoice_items_behavior": Param(one_of("exclude", "include")),
            }
        ),
        create_invoice,
    ),
    Route("GET", "/v1/invoices/search", Spec(SEARCH_PARAMS), searcher("invoice", "invoices")),
    Route("GET", "/v1/invoices/{id}", NO_PARAMS, retrieve("invoice")),
    Route(
        "GET",
        "/v1/invoices",
        Spec(
            {
                **LIST_PARAMS,
                "customer": ID,
                "status": Param(one_of("draft", "open", "paid", "uncollectible", "void")),
                "collection_method": Param(one_of("charge_automatically", "send_invoice")),
                "created": CREATED,
                "due_date": CREATED,
            }
        ),
        list_invoices,
    ),
    Route(
        "POST",
        "/v1/invoices/{id}/finalize",
        Spec({"auto_advance": Param(boolean)}),
        invoice_action("finalize"),
    ),
    Route("POST", "/v1/invoices/{id}/send", NO_PARAMS, invoice_action("send")),
    Route(
        "POST",
        "/v1/invoices/{id}/pay",
        Spec({"payment_method": ID, "paid_out_of_band": Param(boolean)}),
        invoice_action("pay"),
    ),
    Route("POST", "/v1/invoices/{id}/void", NO_PARAMS, invoice_action("void")),
    Route(
        "POST",
        "/v1/invoices/{id}/mark_uncollectible",
        NO_PARAMS,
        invoice_action("mark_uncollectible"),
    ),
    Route("DELETE", "/v1/invoices/{id}", DELETE_PARAMS, invoice_action("delete")),
    Route("GET", "/v1/invoices/{id}/lines", Spec(LIST_PARAMS), list_lines),
    Route(
        "POST",
        "/v1/invoiceitems",
        Spec(
            {
                "customer": Param(string, required=True),
                "amount": Param(integer(-99_999_999, 99_999_999), required=True),
                "currency": Param(one_of(*CURRENCIES)),
                "description": Param(string),
                "invoice": ID,
                "metadata": METADATA,
            }
        ),
        create_invoice_item,
    ),
    Route("GET", "/v1/invoiceitems/{id}", NO_PARAMS, retrieve("invoiceitem")),
    Route(
        "GET",
        "/v1/invoiceitems",
        Spec({**LIST_PARAMS, "customer": ID, "invoice": ID, "pending": Param(boolean)}),
        list_invoice_items,
    ),
    Route(
        "GET",
        "/v1/events",
        Spec(
            {
                **LIST_PARAMS,
                "type": Param(string),
                "types": Param(as_list(string)),
                "created": CREATED,
                "delivery_success": Param(boolean),
            }
        ),
        list_events,
    ),
    Route("GET", "/v1/events/{id}", NO_PARAMS, retrieve("event")),
    Route("GET", "/v1/payment_intents/{id}", NO_PARAMS, retrieve("payment_intent")),
    Route("GET", "/v1/charges/{id}", NO_PARAMS, retrieve("charge")),
    Route(
        "POST",
        "/v1/refunds",
        Spec(
            {
                "charge": ID,
                "payment_intent": ID,
                "amount": Param(integer(1, 99_999_999)),
                "reason": Param(one_of(*refunds.REASONS)),
                "metadata": METADATA,
            }
        ),
        create_refund,
    ),
    Route("GET", "/v1/refunds/{id}", NO_PARAMS, retrieve("refund")),
    Route("POST", "/v1/credit_notes", CREDIT_NOTE_PARAMS, create_credit_note),
    Route("GET", "/v1/credit_notes/preview", CREDIT_NOTE_PARAMS, preview_credit_note),
    Route("GET", "/v1/credit_notes/{id}", NO_PARAMS, retrieve("credit_note")),
    Route(
        "GET",
        "/v1/credit_notes",
        Spec({**LIST_PARAMS, "invoice": ID, "customer": ID}),
        list_credit_notes,
    ),
    Route("POST", "/v1/credit_notes/{id}/void", NO_PARAMS, void_credit_note),
    Route("GET", "/v1/disputes/{id}", NO_PARAMS, retrieve("dispute")),
    Route(
        "POST",
        "/v1/disputes/{id}",
        Spec(
            {
                "evidence": Param(disputes.evidence),
                "submit": Param(boolean),
                "metadata": METADATA,
            }
        ),
        update_dispute,
    ),
    Route(
        "POST",
        "/v1/webhook_endpoints",
        Spec(
            {
                "url": Param(string, required=True),
                "enabled_events": Param(as_list(string), required=True),
                "description": Param(string),
                "metadata": METADATA,
                "api_version": Param(string),
            }
        ),
        create_webhook_endpoint,
    ),
    Route("GET", "/v1/webhook_endpoints/{id}", NO_PARAMS, retrieve("webhook_endpoint")),
    Route(
        "GET",
        "/v1/webhook_endpoints",
        Spec(LIST_PARAMS),
        lister("webhook_endpoint", "/v1/webhook_endpoints"),
    ),
    Route("DELETE", "/v1/webhook_endpoints/{id}", DELETE_PARAMS, delete_webhook_endpoint),
]
