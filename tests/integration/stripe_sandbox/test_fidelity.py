"""The sandbox against the official SDK: every field it sends and every parameter it takes.

Objects are fetched as raw JSON (not through the SDK, which accepts anything) so that each key
the sandbox sends is seen and checked against the annotations of the SDK class for its kind,
nested objects included. Parameters are checked against the params TypedDict of the SDK call
that reaches each route.
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
import stripe.params

from stripe_sandbox.api import ROUTES
from stripe_sandbox.routing import Route
from stripe_sandbox.sandbox import EVENT_TYPES
from tests.support.sandbox import SandboxControl

AUTH = {"Authorization": "Bearer sk_test_x"}

RESOURCE_CLASSES: tuple[type[Any], ...] = (
    stripe.Customer,
    stripe.Invoice,
    stripe.InvoiceItem,
    stripe.InvoiceLineItem,
    stripe.Event,
    stripe.WebhookEndpoint,
    stripe.PaymentIntent,
    stripe.Charge,
    stripe.InvoicePayment,
    stripe.Refund,
    stripe.CreditNote,
    stripe.CreditNoteLineItem,
    stripe.Dispute,
)
CLASS_FOR_KIND: dict[str, type[Any]] = {cls.OBJECT_NAME: cls for cls in RESOURCE_CLASSES}

# The SDK's ListObject declares data, has_more and url; every list Stripe sends also says
# `"object": "list"` (the SDK reads it to pick the class, without declaring it).
LIST_KEYS_BEYOND_SDK = frozenset({"object"})
# `invoice.lines` carries the total count, as Stripe documents ("a lines property containing the
# total count of line items and the first handful of those items"), though ListObject does not
# declare it. Allowed there only.
EMBEDDED_LINES_KEYS_BEYOND_SDK = frozenset({"total_count"})

# Types an endpoint may enable that the sandbox never sends: Stripe sends them when the bank
# moves a refund on later, and a sandbox refund succeeds at once.
ENABLED_NEVER_EMITTED = {"refund.failed", "refund.updated"}


def declared(cls: type[Any]) -> set[str]:
    """The public field names annotated on an SDK class and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= set(vars(klass).get("__annotations__", {}))
    return {name for name in names if not name.startswith("_") and name != "OBJECT_NAME"}


@dataclass
class FieldCheck:
    """Walks JSON answers; every key not declared by the SDK is a problem of its object kind."""

    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    kinds: set[str] = field(default_factory=set)
    invoice_states: set[str] = field(default_factory=set)
    deleted_kinds: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)

    def answer(self, obj: dict[str, Any], where: str) -> None:
        kind = obj.get("object")
        if kind == "list":
            self.list_object(obj, where)
            return
        if kind == "search_result":
            for index, item in enumerate(obj["data"]):
                self.answer(item, f"{where}.data[{index}]")
            return
        cls = CLASS_FOR_KIND.get(str(kind))
        if cls is None:
            self.problems["unknown kind"].append(f"{where}: object={kind!r}")
            return
        self.kinds.add(str(kind))
        if obj.get("deleted"):
            self.deleted_kinds.add(str(kind))
        elif kind == "invoice":
            self.invoice_states.add(obj["status"])
        if kind == "event":
            self.event_types.add(obj["type"])
        self.fields(obj, cls, str(kind), where)

    def list_object(
        self, obj: dict[str, Any], where: str, extra: frozenset[str] = frozenset()
    ) -> None:
        self.kinds.add("list")
        allowed = declared(stripe.ListObject) | LIST_KEYS_BEYOND_SDK | extra
        self.problems["list"] += [f"{where}.{key}" for key in obj if key not in allowed]
        for index, item in enumerate(obj["data"]):
            self.answer(item, f"{where}.data[{index}]")

    def fields(self, obj: dict[str, Any], cls: type[Any], kind: str, where: str) -> None:
        known = declared(cls)
        inner: dict[str, type[Any]] = getattr(cls, "_inner_class_types", {})
        for key, value in obj.items():
            path = f"{where}.{key}"
            if key not in known:
                self.problems[kind].append(path)
            if cls is stripe.Invoice and key == "lines":
                self.list_object(value, path, EMBEDDED_LINES_KEYS_BEYOND_SDK)
                continue
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict):
                    continue
                if isinstance(item.get("object"), str):  # a nested or expanded Stripe object
                    self.answer(item, path)
                elif key in inner:
                    self.fields(item, inner[key], kind, path)
        if cls is stripe.Event.Data and obj.get("previous_attributes"):
            # The previous values are fields of the object the event is about.
            subject = obj["object"]["object"]
            self.fields(
                obj["previous_attributes"],
                CLASS_FOR_KIND[subject],
                subject,
                f"{where}.previous_attributes",
            )


class Api:
    """Raw JSON calls with a Bearer test key, each checked for the status it should answer."""

    def __init__(self, sandbox: SandboxControl, check: FieldCheck) -> None:
        self.http = sandbox.http
        self.check = check

    def call(
        self, method: str, path: str, params: dict[str, str] | None = None, status: int = 200
    ) -> dict[str, Any]:
        if method == "POST":
            response = self.http.post(path, data=params or {}, headers=AUTH)
        else:
            response = self.http.request(method, path, params=params, headers=AUTH)
        assert response.status_code == status, (method, path, response.text)
        body: dict[str, Any] = response.json()
        if status == 200:
            self.check.answer(body, f"{method} {path}")
        return body


def produce_every_kind(sandbox: SandboxControl) -> FieldCheck:
    """Customers, items, invoices in every state, lines, events, endpoints: fetched raw."""
    check = FieldCheck()
    api = Api(sandbox, check)
    customer = api.call(
        "POST",
        "/v1/customers",
        {
            "name": "Ann Example",
            "email": "ann@example.com",
            "phone": "+15555550100",
            "description": "homeowner",
            "metadata[user_id]": "7",
        },
    )
    cus = customer["id"]
    api.call("GET", f"/v1/customers/{cus}")
    api.call("GET", "/v1/customers", {"email": "ann@example.com"})
    api.call("GET", "/v1/customers/search", {"query": "metadata['user_id']:'7'"})

    def draft(amount: int = 15000, **extra: str) -> str:
        invoice = api.call(
            "POST",
            "/v1/invoices",
            {
                "customer": cus,
                "collection_method": "send_invoice",
                "days_until_due": "7",
                "metadata[job_id]": "1",
                **extra,
            },
        )
        if amount:
            api.call(
                "POST",
                "/v1/invoiceitems",
                {
                    "customer": cus,
                    "invoice": invoice["id"],
                    "amount": str(amount),
                    "description": "Drain cleaning",
                    "metadata[line]": "1",
                },
            )
        return str(invoice["id"])

    # A pending item that a draft picks up, and a draft (with footer and description).
    pending = api.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": cus, "amount": "2500", "currency": "usd", "description": "Call-out fee"},
    )
    paid = draft(pending_invoice_items_behavior="include", description="Job 1", footer="Thank you")
    api.call("GET", f"/v1/invoices/{paid}", {"expand[]": "customer"})
    api.call("GET", f"/v1/invoices/{paid}/lines")
    api.call("GET", f"/v1/invoiceitems/{pending['id']}", {"expand[]": "invoice"})
    api.call("GET", "/v1/invoiceitems", {"customer": cus, "expand[]": "data.invoice"})
    # open, then paid
    api.call("POST", f"/v1/invoices/{paid}/finalize")
    api.call("GET", f"/v1/invoices/{paid}")
    api.call("POST", f"/v1/invoices/{paid}/pay", {"payment_method": "pm_card_visa"})
    with_payments = api.call("GET", f"/v1/invoices/{paid}", {"expand[]": "payments"})
    intent = with_payments["payments"]["data"][0]["payment"]["payment_intent"]
    api.call("GET", f"/v1/payment_intents/{intent}", {"expand[]": "latest_charge"})
    charge = api.call("GET", f"/v1/payment_intents/{intent}")["latest_charge"]
    api.call("GET", f"/v1/charges/{charge}", {"expand[]": "payment_intent"})
    refund = api.call(
        "POST",
        "/v1/refunds",
        {"payment_intent": intent, "amount": "500", "reason": "requested_by_customer"},
    )
    api.call("POST", "/v1/refunds", {"charge": charge, "metadata[job_id]": "1"})
    api.call("GET", f"/v1/refunds/{refund['id']}", {"expand[]": "charge"})
    api.call("GET", "/v1/refunds", {"payment_intent": intent, "created[gte]": "0"})
    api.call("GET", "/v1/charges", {"customer": cus, "expand[]": "data.payment_intent"})
    payments = api.call(
        "GET",
        "/v1/invoice_payments",
        {
            "payment[type]": "payment_intent",
            "payment[payment_intent]": intent,
            "status": "paid",
            "expand[]": "data.invoice",
        },
    )
    api.call("GET", f"/v1/invoice_payments/{payments['data'][0]['id']}")
    lines = api.call("GET", f"/v1/invoices/{paid}/lines")["data"]
    note = {
        "invoice": paid,
        "lines[0][type]": "invoice_line_item",
        "lines[0][invoice_line_item]": lines[0]["id"],
        "lines[0][amount]": "1000",
        "lines[1][type]": "custom_line_item",
        "lines[1][description]": "Goodwill",
        "lines[1][unit_amount]": "500",
        "credit_amount": "1000",
        "out_of_band_amount": "500",
        "reason": "order_change",
        "memo": "Part of the job was not done",
        "metadata[job_id]": "1",
    }
    api.call("GET", "/v1/credit_notes/preview", note)
    created_note = api.call("POST", "/v1/credit_notes", note)
    api.call("GET", f"/v1/credit_notes/{created_note['id']}")
    api.call("GET", "/v1/credit_notes", {"invoice": paid})
    api.call("POST", f"/v1/credit_notes/{created_note['id']}/void")
    # paid, then disputed: one dispute updated and won, one lost
    for text in ("winning_evidence", "losing_evidence"):
        disputed = draft()
        api.call("POST", f"/v1/invoices/{disputed}/finalize")
        api.call(
            "POST", f"/v1/invoices/{disputed}/pay", {"payment_method": "pm_card_createDispute"}
        )
        (opened,) = api.call("GET", "/v1/events", {"type": "charge.dispute.created", "limit": "1"})[
            "data"
        ]
        dispute = opened["data"]["object"]["id"]
        api.call(
            "POST",
            f"/v1/disputes/{dispute}",
            {"evidence[uncategorized_text]": "receipt", "submit": "false", "metadata[a]": "b"},
        )
        api.call("POST", f"/v1/disputes/{dispute}", {"evidence[uncategorized_text]": text})
        api.call("GET", f"/v1/disputes/{dispute}", {"expand[]": "charge"})
    api.call("GET", "/v1/disputes", {"created[gte]": "0", "limit": "5"})
    # sent, declined (still open, attempted), then void
    voided = draft()
    api.call("POST", f"/v1/invoices/{voided}/send")
    api.call(
        "POST",
        f"/v1/invoices/{voided}/pay",
        {"payment_method": "pm_card_visa_chargeDeclined"},
        status=402,
    )
    api.call("GET", f"/v1/invoices/{voided}")
    api.call("POST", f"/v1/invoices/{voided}/void")
    # uncollectible, then paid out of band
    written_off = draft()
    api.call("POST", f"/v1/invoices/{written_off}/finalize")
    api.call("POST", f"/v1/invoices/{written_off}/mark_uncollectible")
    api.call("GET", "/v1/invoices", {"status": "uncollectible"})
    api.call("POST", f"/v1/invoices/{written_off}/pay", {"paid_out_of_band": "true"})
    api.call("GET", f"/v1/invoices/{written_off}", {"expand[]": "amount_paid_off_stripe"})
    api.call("GET", "/v1/invoices", {"expand[]": "data.amount_paid_off_stripe"})
    # $0: paid as it is finalized; and a deleted draft
    api.call("POST", f"/v1/invoices/{draft(amount=0)}/finalize")
    # below the minimum charge: paid at once, the amount moves onto the customer's balance
    api.call("POST", f"/v1/invoices/{draft(amount=1)}/finalize")
    api.call("GET", f"/v1/customers/{cus}")
    api.call("DELETE", f"/v1/invoices/{draft()}")
    api.call("GET", "/v1/invoices", {"limit": "100"})
    api.call("GET", "/v1/invoices/search", {"query": f"customer:'{cus}'"})
    # Endpoints last, so that nothing is delivered to the made-up URL.
    endpoint = api.call(
        "POST",
        "/v1/webhook_endpoints",
        {
            "url": "https://example.com/hooks/stripe",
            "enabled_events[0]": "invoice.paid",
            "description": "billing",
            "metadata[team]": "payments",
            "api_version": stripe.api_version,
        },
    )
    api.call("GET", f"/v1/webhook_endpoints/{endpoint['id']}")
    api.call("GET", "/v1/webhook_endpoints")
    api.call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
    events = api.call("GET", "/v1/events", {"limit": "100"})
    api.call("GET", f"/v1/events/{events['data'][0]['id']}")
    return check


def test_scenario_produces_every_kind_state_and_event_type(sandbox: SandboxControl) -> None:
    check = produce_every_kind(sandbox)
    assert check.kinds == set(CLASS_FOR_KIND) | {"list"}
    assert check.invoice_states == {"draft", "open", "paid", "void", "uncollectible"}
    assert check.deleted_kinds == {"invoice", "webhook_endpoint"}
    assert check.event_types == set(EVENT_TYPES) - ENABLED_NEVER_EMITTED
    assert check.problems["unknown kind"] == []


@pytest.mark.parametrize("kind", [*CLASS_FOR_KIND, "list"])
def test_every_field_sent_is_declared_by_the_sdk_class(sandbox: SandboxControl, kind: str) -> None:
    check = produce_every_kind(sandbox)
    assert sorted(set(check.problems[kind])) == []


def test_events_carry_the_api_version_the_sdk_pins(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    client.v1.invoices.create(params={"customer": customer.id})
    response = sandbox.http.get("/v1/events", headers=AUTH)
    events = response.json()["data"]
    assert [event["type"] for event in events] == ["invoice.created", "customer.created"]
    assert {event["api_version"] for event in events} == {stripe.api_version}
    assert response.headers["Stripe-Version"] == stripe.api_version


# (method, path) -> (the StripeClient call that reaches it, under client.v1; its params class)
SDK_CALLS: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/v1/customers"): ("customers.create", "CustomerCreateParams"),
    ("GET", "/v1/customers/search"): ("customers.search", "CustomerSearchParams"),
    ("GET", "/v1/customers/{id}"): ("customers.retrieve", "CustomerRetrieveParams"),
    ("GET", "/v1/customers"): ("customers.list", "CustomerListParams"),
    ("POST", "/v1/invoices"): ("invoices.create", "InvoiceCreateParams"),
    ("GET", "/v1/invoices/search"): ("invoices.search", "InvoiceSearchParams"),
    ("GET", "/v1/invoices/{id}"): ("invoices.retrieve", "InvoiceRetrieveParams"),
    ("GET", "/v1/invoices"): ("invoices.list", "InvoiceListParams"),
    ("POST", "/v1/invoices/{id}/finalize"): (
        "invoices.finalize_invoice",
        "InvoiceFinalizeInvoiceParams",
    ),
    ("POST", "/v1/invoices/{id}/send"): ("invoices.send_invoice", "InvoiceSendInvoiceParams"),
    ("POST", "/v1/invoices/{id}/pay"): ("invoices.pay", "InvoicePayParams"),
    ("POST", "/v1/invoices/{id}/void"): ("invoices.void_invoice", "InvoiceVoidInvoiceParams"),
    ("POST", "/v1/invoices/{id}/mark_uncollectible"): (
        "invoices.mark_uncollectible",
        "InvoiceMarkUncollectibleParams",
    ),
    ("DELETE", "/v1/invoices/{id}"): ("invoices.delete", "InvoiceDeleteParams"),
    ("GET", "/v1/invoices/{id}/lines"): ("invoices.line_items.list", "InvoiceLineItemListParams"),
    ("POST", "/v1/invoiceitems"): ("invoice_items.create", "InvoiceItemCreateParams"),
    ("GET", "/v1/invoiceitems/{id}"): ("invoice_items.retrieve", "InvoiceItemRetrieveParams"),
    ("GET", "/v1/invoiceitems"): ("invoice_items.list", "InvoiceItemListParams"),
    ("GET", "/v1/events"): ("events.list", "EventListParams"),
    ("GET", "/v1/events/{id}"): ("events.retrieve", "EventRetrieveParams"),
    ("POST", "/v1/webhook_endpoints"): ("webhook_endpoints.create", "WebhookEndpointCreateParams"),
    ("GET", "/v1/webhook_endpoints/{id}"): (
        "webhook_endpoints.retrieve",
        "WebhookEndpointRetrieveParams",
    ),
    ("GET", "/v1/webhook_endpoints"): ("webhook_endpoints.list", "WebhookEndpointListParams"),
    ("GET", "/v1/payment_intents/{id}"): (
        "payment_intents.retrieve",
        "PaymentIntentRetrieveParams",
    ),
    ("GET", "/v1/charges/{id}"): ("charges.retrieve", "ChargeRetrieveParams"),
    ("GET", "/v1/charges"): ("charges.list", "ChargeListParams"),
    ("GET", "/v1/invoice_payments"): ("invoice_payments.list", "InvoicePaymentListParams"),
    ("GET", "/v1/invoice_payments/{id}"): (
        "invoice_payments.retrieve",
        "InvoicePaymentRetrieveParams",
    ),
    ("POST", "/v1/refunds"): ("refunds.create", "RefundCreateParams"),
    ("GET", "/v1/refunds/{id}"): ("refunds.retrieve", "RefundRetrieveParams"),
    ("GET", "/v1/refunds"): ("refunds.list", "RefundListParams"),
    ("POST", "/v1/credit_notes"): ("credit_notes.create", "CreditNoteCreateParams"),
    ("GET", "/v1/credit_notes/preview"): ("credit_notes.preview", "CreditNotePreviewParams"),
    ("GET", "/v1/credit_notes/{id}"): ("credit_notes.retrieve", "CreditNoteRetrieveParams"),
    ("GET", "/v1/credit_notes"): ("credit_notes.list", "CreditNoteListParams"),
    ("GET", "/v1/disputes/{id}"): ("disputes.retrieve", "DisputeRetrieveParams"),
    ("GET", "/v1/disputes"): ("disputes.list", "DisputeListParams"),
    ("POST", "/v1/disputes/{id}"): ("disputes.update", "DisputeUpdateParams"),
    ("POST", "/v1/credit_notes/{id}/void"): (
        "credit_notes.void_credit_note",
        "CreditNoteVoidCreditNoteParams",
    ),
    ("DELETE", "/v1/webhook_endpoints/{id}"): (
        "webhook_endpoints.delete",
        "WebhookEndpointDeleteParams",
    ),
}

# Keys of the resource-method params that are request options, not API parameters.
REQUEST_OPTIONS = set(stripe.RequestOptions.__annotations__)


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


def api_params(class_name: str) -> set[str]:
    """The API parameters a params TypedDict declares (its annotations, bases included)."""
    params_class = getattr(stripe.params, class_name)
    return declared(params_class) - REQUEST_OPTIONS


def test_every_route_is_mapped_to_its_sdk_call() -> None:
    routes = [(route.method, route.path) for route in ROUTES]
    assert len(routes) == len(set(routes))
    assert set(routes) == set(SDK_CALLS)


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_mapped_sdk_call_sends_that_method_and_path_with_that_params_class(route: Route) -> None:
    call, class_name = SDK_CALLS[(route.method, route.path)]
    target: Any = stripe.StripeClient("sk_test_x").v1
    for name in call.split("."):
        target = getattr(target, name)
    source = inspect.getsource(target)
    placeholder = re.compile(r"\{[^}]*\}")
    sdk_paths = {placeholder.sub("{}", path) for path in re.findall(r'"(/v1/[^"]*)"', source)}
    assert sdk_paths == {placeholder.sub("{}", route.path)}
    assert re.findall(r'_request\(\s*"(\w+)"', source) == [route.method.lower()]
    assert class_name in str(inspect.signature(target).parameters["params"].annotation)


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_accepted_parameter_is_declared_by_the_sdk(route: Route) -> None:
    _, class_name = SDK_CALLS[(route.method, route.path)]
    accepted = set(route.spec.params) | ({"expand"} if route.spec.expandable else set())
    assert sorted(accepted - api_params(class_name)) == []
