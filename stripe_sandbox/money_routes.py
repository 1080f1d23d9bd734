"""The endpoints of money taken and given back: payments, charges, refunds, credit notes,
disputes, and the InvoicePayments that tie a payment to its invoice.

Lists take the filters Stripe's list calls take (the SDK's `*ListParams`), newest first;
a PaymentIntent, Charge, Refund or Dispute is traced to its invoice only through
`/v1/invoice_payments`, as with Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stripe_sandbox import credit_notes, disputes, refunds
from stripe_sandbox.errors import invalid_request, missing_param, unknown_param
from stripe_sandbox.params import (
    LIST_PARAMS,
    Param,
    Spec,
    as_list,
    boolean,
    in_range,
    integer,
    one_of,
    string,
    text,
)
from stripe_sandbox.routing import (
    CREATED,
    ID,
    METADATA,
    NO_PARAMS,
    Route,
    fetch,
    list_page,
    retrieve,
)
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject

PAYMENT_TYPES = ("payment_intent", "payment_record")
INVOICE_PAYMENT_STATUSES = ("canceled", "open", "paid")


def matching(p: dict[str, Any], *fields: str) -> Callable[[StripeObject], bool]:
    """Keep objects equal to each given filter among `fields`, created within `created`."""
    wanted = {name: p[name] for name in fields if p.get(name) is not None}
    created = p.get("created")
    return lambda obj: (
        all(obj[name] == value for name, value in wanted.items())
        and (created is None or in_range(obj["created"], created))
    )


def lister(kind: str, url: str, *fields: str) -> Route:
    return Route(
        "GET",
        url,
        Spec({**LIST_PARAMS, **dict.fromkeys(fields, ID), "created": CREATED}),
        lambda sb, p, _: list_page(sb, kind, p, url, matching(p, *fields)),
    )


# Invoice payments


def payment_filter(name: str, value: Any) -> dict[str, str]:
    """`payment[type]=payment_intent&payment[payment_intent]=pi_...`: the type is required."""
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {name} must be an object.", param=name)
    for key in value:
        if key not in ("type", *PAYMENT_TYPES):
            raise unknown_param(f"{name}[{key}]")
    if not value.get("type"):
        raise missing_param(f"{name}[type]")
    checked = {"type": one_of(*PAYMENT_TYPES)(f"{name}[type]", value["type"])}
    for key in PAYMENT_TYPES:
        if value.get(key):
            if key != checked["type"]:
                raise invalid_request(
                    f"{name}[{key}] can only be given with {name}[type]={key}.",
                    param=f"{name}[{key}]",
                )
            checked[key] = string(f"{name}[{key}]", value[key])
    return checked


def list_invoice_payments(sb: Sandbox, p: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    dated = matching(p, "invoice", "status")
    wanted = p.get("payment") or {}

    def keep(payment: StripeObject) -> bool:
        return dated(payment) and all(payment["payment"][k] == v for k, v in wanted.items())

    return list_page(sb, "invoice_payment", p, "/v1/invoice_payments", keep)


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
    return list_page(sb, "credit_note", p, "/v1/credit_notes", matching(p, "invoice", "customer"))


def void_credit_note(sb: Sandbox, _: dict[str, Any], ids: Mapping[str, str]) -> StripeObject:
    return credit_notes.void(sb, fetch(sb, "credit_note", ids["id"]))


# Disputes


def update_dispute(sb: Sandbox, p: dict[str, Any], ids: Mapping[str, str]) -> StripeObject:
    return disputes.update(sb, fetch(sb, "dispute", ids["id"]), p)


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
    Route("GET", "/v1/payment_intents/{id}", NO_PARAMS, retrieve("payment_intent")),
    Route("GET", "/v1/charges/{id}", NO_PARAMS, retrieve("charge")),
    lister("charge", "/v1/charges", "customer", "payment_intent"),
    Route(
        "GET",
        "/v1/invoice_payments",
        Spec(
            {
                **LIST_PARAMS,
                "invoice": ID,
                "payment": Param(payment_filter),
                "status": Param(one_of(*INVOICE_PAYMENT_STATUSES)),
                "created": CREATED,
            }
        ),
        list_invoice_payments,
    ),
    Route("GET", "/v1/invoice_payments/{id}", NO_PARAMS, retrieve("invoice_payment")),
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
    lister("refund", "/v1/refunds", "charge", "payment_intent"),
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
    lister("dispute", "/v1/disputes", "charge", "payment_intent"),
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
]
