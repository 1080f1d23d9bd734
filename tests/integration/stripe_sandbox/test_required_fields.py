"""Fields the SDK declares as always present (not Optional) are sent on invoices and items."""

from __future__ import annotations

import types
import typing
from typing import Any

import stripe

from tests.integration.stripe_sandbox.test_payments import open_invoice
from tests.support.sandbox import SandboxControl

AUTH = {"Authorization": "Bearer sk_test_x"}
# `deleted` is only on the answer to a delete call.
ONLY_SOMETIMES = {"deleted"}


def always_present(cls: type[Any]) -> set[str]:
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(vars(klass).get("__annotations__", {}))
    return {
        name
        for name, hint in annotations.items()
        if not name.startswith("_")
        and name != "OBJECT_NAME"
        and name not in ONLY_SOMETIMES
        and type(None) not in typing.get_args(hint)
        and hint is not types.NoneType
    }


def test_invoice_and_item_carry_every_field_the_sdk_always_expects(
    sandbox: SandboxControl,
) -> None:
    invoice = open_invoice(sandbox)
    raw = sandbox.http.get(f"/v1/invoices/{invoice.id}", headers=AUTH).json()
    assert sorted(always_present(stripe.Invoice) - set(raw)) == []
    assert raw["automatic_tax"]["enabled"] is False
    assert raw["issuer"] == {"type": "self"}
    assert raw["default_tax_rates"] == []
    assert (raw["pre_payment_credit_notes_amount"], raw["post_payment_credit_notes_amount"]) == (
        0,
        0,
    )
    (item,) = sandbox.http.get("/v1/invoiceitems", headers=AUTH).json()["data"]
    assert sorted(always_present(stripe.InvoiceItem) - set(item)) == []
    assert item["quantity_decimal"] == "1"
