"""The Stripe endpoints the system uses, with Stripe's paths, parameters and answers.

Customers, invoices, invoice items, events and webhook endpoints are here; the endpoints
of money taken and given back are in `money_routes.py`. The server serves `ROUTES`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from stripe_sandbox import invoices, money_routes, objects, search
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
    one_of,
    string,
    text,
)
from stripe_sandbox.routing import (
    CREATED,
    DELETE_PARAMS,
    ID,
    METADATA,
    NO_PARAMS,
    Handler,
    Route,
    fetch,
    list_page,
    lister,
    retrieve,
)
from stripe_sandbox.sandbox import EVENT_TYPES, Sandbox
from stripe_sandbox.store import StripeObject


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


def searcher(kind: str, resource: str) -> Handler:
    return lambda sb, p, _: search_page(sb, kind, resource, p)


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
    *money_routes.ROUTES,
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
