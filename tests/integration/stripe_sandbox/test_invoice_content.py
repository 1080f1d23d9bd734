"""An invoice's memo, custom fields and footer: taken within Stripe's limits, refused past
them, and shown on the hosted page and PDF as text."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest
import stripe

from tests.integration.stripe_sandbox.test_hosted_page import pdf_text
from tests.support.sandbox import SandboxControl

FIELDS = [
    {"name": "Job", "value": "#42"},
    {"name": "Service date", "value": "June 5, 2026"},
    {"name": "Provider", "value": "Rivera <b>Plumbing</b> & Heating"},
]
MEMO = "Plumbing by Rivera on June 5, 2026 (job #42).\n<script>alert(1)</script> **bold**"
FOOTER = "Quote job #42 <i>with any question</i>."


def draft(sandbox: SandboxControl, **params: Any) -> stripe.Invoice:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann Example"})
    return client.v1.invoices.create(
        params={  # type: ignore[arg-type]
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 7,
            **params,
        }
    )


def sent(sandbox: SandboxControl) -> stripe.Invoice:
    invoice = draft(sandbox, description=MEMO, footer=FOOTER, custom_fields=FIELDS)
    assert invoice.id is not None
    sandbox.client.v1.invoice_items.create(
        params={
            "customer": str(invoice.customer),
            "invoice": invoice.id,
            "amount": 15000,
            "description": "Plumbing - Home Repair: <u>Kitchen</u> sink",
        }
    )
    return sandbox.client.v1.invoices.send_invoice(invoice.id)


def test_the_invoice_carries_its_memo_custom_fields_and_footer(sandbox: SandboxControl) -> None:
    invoice = sent(sandbox)
    assert invoice.id is not None
    again = sandbox.client.v1.invoices.retrieve(invoice.id)
    for shown in (invoice, again):
        assert shown.description == MEMO
        assert shown.footer == FOOTER
        assert [(f.name, f.value) for f in shown.custom_fields or []] == [
            (field["name"], field["value"]) for field in FIELDS
        ]


def test_the_hosted_page_shows_them_as_text(sandbox: SandboxControl) -> None:
    invoice = sent(sandbox)
    assert invoice.hosted_invoice_url is not None
    html = sandbox.http.get(invoice.hosted_invoice_url).text
    for text in (MEMO, FOOTER, "Plumbing - Home Repair: <u>Kitchen</u> sink"):
        assert escape(text) in html
    for field in FIELDS:
        assert escape(field["name"]) in html and escape(field["value"]) in html
    for markup in ("<script>", "<b>", "<i>", "<u>"):
        assert markup not in html


def test_the_pdf_shows_them(sandbox: SandboxControl) -> None:
    invoice = sent(sandbox)
    assert invoice.invoice_pdf is not None
    text = pdf_text(sandbox.http.get(invoice.invoice_pdf).content)
    for part in (b"Service date", b"June 5, 2026", b"job #42", b"Quote job #42", b"Kitchen"):
        assert part in text


@pytest.mark.parametrize(
    "params, param",
    [
        ({"description": "m" * 501}, "description"),
        ({"footer": "f" * 5001}, "footer"),
        ({"custom_fields": [{"name": "n" * 31, "value": "v"}]}, "custom_fields[0][name]"),
        ({"custom_fields": [{"name": "n", "value": "v" * 141}]}, "custom_fields[0][value]"),
        ({"custom_fields": [{"name": "n"}]}, "custom_fields[0][value]"),
        ({"custom_fields": [{"name": f"n{i}", "value": "v"} for i in range(5)]}, "custom_fields"),
    ],
)
def test_past_stripes_limits_is_refused(
    sandbox: SandboxControl, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        draft(sandbox, **params)
    assert refused.value.param == param
    assert refused.value.http_status == 400


def test_at_stripes_limits_is_taken(sandbox: SandboxControl) -> None:
    fields = [{"name": "n" * 30, "value": "v" * 140} for _ in range(4)]
    invoice = draft(sandbox, description="m" * 500, footer="f" * 5000, custom_fields=fields)
    assert invoice.description == "m" * 500 and invoice.footer == "f" * 5000
    assert len(invoice.custom_fields or []) == 4


def test_an_invoice_without_them_has_none(sandbox: SandboxControl) -> None:
    invoice = draft(sandbox)
    assert (invoice.description, invoice.footer, invoice.custom_fields) == (None, None, None)
