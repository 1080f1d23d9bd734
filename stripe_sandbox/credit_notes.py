"""Credit notes: money taken off an open invoice, or given back on a paid one.

On an open invoice a credit note is `pre_payment`: it lowers what is left to pay (and an
invoice with nothing left becomes paid). On a paid invoice it is `post_payment` and its
amount is split between `refund_amount` (a Refund of the invoice's charge),
`credit_amount` (onto the customer's balance) and `out_of_band_amount` (given back outside
Stripe); with none named, the whole amount is credited to the balance. A credit note for
more than is left to credit is refused, as is one whose parts do not add up.
"""

from __future__ import annotations

from typing import Any

from stripe_sandbox import invoices, payments, refunds
from stripe_sandbox.errors import invalid_request, no_such
from stripe_sandbox.money import format_amount
from stripe_sandbox.objects import clean_metadata
from stripe_sandbox.params import integer, one_of, string
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject, new_id

REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
PARTS = ("refund_amount", "credit_amount", "out_of_band_amount")


def line(name: str, value: Any) -> dict[str, Any]:
    """One `lines[n]` entry: part of an invoice line, or a custom line."""
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {name} must be an object.", param=name)
    known = {"type", "invoice_line_item", "amount", "quantity", "unit_amount", "description"}
    for key in value:
        if key not in known:
            raise invalid_request(f"Received unknown parameter: {name}[{key}]", param=name)
    kind = one_of("invoice_line_item", "custom_line_item")(f"{name}[type]", value.get("type"))
    checked: dict[str, Any] = {"type": kind}
    for key in ("amount", "quantity", "unit_amount"):
        if value.get(key) not in (None, ""):
            checked[key] = integer(1, 99_999_999)(f"{name}[{key}]", value[key])
    if value.get("description"):
        checked["description"] = string(f"{name}[description]", value["description"])
    if kind == "invoice_line_item":
        if not value.get("invoice_line_item"):
            raise invalid_request(
                f"Missing required param: {name}[invoice_line_item].",
                param=f"{name}[invoice_line_item]",
                code="parameter_missing",
            )
        checked["invoice_line_item"] = string(
            f"{name}[invoice_line_item]", value["invoice_line_item"]
        )
    elif "unit_amount" not in checked or "description" not in checked:
        raise invalid_request(
            f"A custom line item needs unit_amount and description ({name}).", param=name
        )
    return checked


def build(sandbox: Sandbox, invoice: StripeObject, p: dict[str, Any]) -> StripeObject:
    """The credit note the parameters describe, checked against the invoice; nothing stored."""
    if invoice["status"] not in ("open", "paid"):
        raise invalid_request(
            f"You can only create credit notes for open or paid invoices; this invoice is "
            f"{invoice['status']}.",
            param="invoice",
            code="invoice_not_editable",
        )
    currency = invoice["currency"]
    note_lines = [_line(invoice, entry, index) for index, entry in enumerate(p.get("lines") or [])]
    if p.get("amount") is not None and note_lines:
        raise invalid_request(
            "You may only specify one of these parameters: amount, lines.", param="amount"
        )
    amount = p["amount"] if p.get("amount") is not None else sum(x["amount"] for x in note_lines)
    if amount <= 0:
        raise invalid_request(
            "A credit note needs an amount or lines with a positive total.", param="amount"
        )
    post_payment = invoice["status"] == "paid"
    creditable = (
        invoice["amount_paid"] - invoice.get("post_payment_credit_notes_amount", 0)
        if post_payment
        else invoice["amount_remaining"]
    )
    if amount > creditable:
        raise invalid_request(
            f"The credit note amount ({format_amount(amount, currency)}) is greater than the "
            f"amount left to credit on invoice {invoice['id']} "
            f"({format_amount(creditable, currency)}).",
            param="amount",
        )
    parts = {part: p.get(part) or 0 for part in PARTS}
    if post_payment:
        if not any(p.get(part) is not None for part in PARTS):
            parts["credit_amount"] = amount
        if sum(parts.values()) != amount:
            raise invalid_request(
                "The sum of credit amount, refund amount and out of band amount "
                f"({format_amount(sum(parts.values()), currency)}) must equal the credit "
                f"note amount ({format_amount(amount, currency)}).",
                param="refund_amount",
            )
        if parts["refund_amount"]:
            charge = _charge_of(sandbox, invoice)
            refunds.refundable(charge, parts["refund_amount"], param="refund_amount")
    else:
        for part in PARTS:
            if p.get(part):
                raise invalid_request(
                    f"{part} can only be set on a credit note for a paid invoice.", param=part
                )
    now = sandbox.now()
    note_id = new_id("credit_note")
    return {
        "id": note_id,
        "object": "credit_note",
        "amount": amount,
        "amount_shipping": 0,
        "created": now,
        "currency": currency,
        "customer": invoice["customer"],
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": now,
        "invoice": invoice["id"],
        "lines": {
            "object": "list",
            "data": note_lines,
            "has_more": False,
            "url": f"/v1/credit_notes/{note_id}/lines",
        },
        "livemode": False,
        "memo": p.get("memo"),
        "metadata": clean_metadata(p.get("metadata")),
        "number": None,
        "out_of_band_amount": parts["out_of_band_amount"] or None,
        "post_payment_amount": amount if post_payment else 0,
        "pre_payment_amount": 0 if post_payment else amount,
        "reason": p.get("reason"),
        "refunds": [],
        "status": "issued",
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": amount,
        "total_excluding_tax": amount,
        "total_taxes": [],
        "type": "post_payment" if post_payment else "pre_payment",
        "voided_at": None,
        "_parts": parts,
    }


def issue(sandbox: Sandbox, invoice: StripeObject, p: dict[str, Any]) -> StripeObject:
    note = build(sandbox, invoice, p)
    count = 1 + sum(
        1
        for _ in sandbox.store.newest_first("credit_note", lambda n: n["invoice"] == invoice["id"])
    )
    note["number"] = f"{invoice['number']}-CN-{count:02d}"
    parts = note["_parts"]
    sandbox.store.add("credit_note", note)
    if parts["refund_amount"]:
        refund = refunds.refund_charge(
            sandbox,
            _charge_of(sandbox, invoice),
            parts["refund_amount"],
            reason=_refund_reason(note["reason"]),
        )
        note["refunds"] = [
            {"amount_refunded": refund["amount"], "refund": refund["id"], "type": "refund"}
        ]
    with invoices.updating(sandbox, invoice):
        _apply(sandbox, invoice, note, sign=1)
    sandbox.emit("credit_note.created", note)
    return note


def void(sandbox: Sandbox, note: StripeObject) -> StripeObject:
    if note["status"] == "void":
        raise invalid_request("This credit note is already void.")
    if note["refunds"]:
        raise invalid_request(
            "A credit note that refunded a charge cannot be voided: the refund stands."
        )
    invoice = sandbox.store.get("invoice", note["invoice"])
    if invoice is None:
        raise no_such("invoice", note["invoice"], param="invoice", status=400)
    if note["type"] == "pre_payment" and invoice["status"] != "open":
        raise invalid_request(
            f"The credit note's invoice is {invoice['status']}; only a credit note on an open "
            "invoice can be voided before payment."
        )
    note["status"] = "void"
    note["voided_at"] = sandbox.now()
    with invoices.updating(sandbox, invoice):
        _apply(sandbox, invoice, note, sign=-1)
    sandbox.emit("credit_note.voided", note)
    return note


def _apply(sandbox: Sandbox, invoice: StripeObject, note: StripeObject, *, sign: int) -> None:
    """Add (sign 1) or take back (sign -1) the note's effect on the invoice and balance."""
    amount = sign * note["amount"]
    if note["type"] == "pre_payment":
        invoice["pre_payment_credit_notes_amount"] = (
            invoice.get("pre_payment_credit_notes_amount", 0) + amount
        )
        invoice["amount_due"] -= amount
        invoice["amount_remaining"] -= amount
        if invoice["amount_remaining"] == 0:
            invoices.mark_paid(sandbox, invoice)
        return
    invoice["post_payment_credit_notes_amount"] = (
        invoice.get("post_payment_credit_notes_amount", 0) + amount
    )
    credit = sign * note["_parts"]["credit_amount"]
    buyer = sandbox.store.get("customer", invoice["customer"])
    if credit and buyer is not None:
        currency = invoice["currency"]
        balance = invoices.customer_balance(buyer, currency)
        invoices.set_customer_balance(sandbox, buyer, currency, balance - credit)


def _charge_of(sandbox: Sandbox, invoice: StripeObject) -> StripeObject:
    charge = payments.charge_of(sandbox, invoice)
    if charge is not None:
        return charge
    raise invalid_request(
        f"Invoice {invoice['id']} was not paid through Stripe, so there is no charge to "
        "refund; use out_of_band_amount or credit_amount.",
        param="refund_amount",
    )


def _refund_reason(reason: str | None) -> str | None:
    # A refund takes only some of a credit note's reasons.
    return reason if reason in refunds.REASONS else None


def _line(invoice: StripeObject, entry: dict[str, Any], index: int) -> StripeObject:
    quantity = entry.get("quantity", 1)
    if entry["type"] == "invoice_line_item":
        source = next(
            (x for x in invoice["lines"]["data"] if x["id"] == entry["invoice_line_item"]), None
        )
        if source is None:
            raise no_such(
                "invoice line item",
                entry["invoice_line_item"],
                param=f"lines[{index}][invoice_line_item]",
                status=400,
            )
        amount = entry.get("amount", source["amount"])
        if amount > source["amount"]:
            raise invalid_request(
                f"The amount of lines[{index}] is greater than its invoice line's amount.",
                param=f"lines[{index}][amount]",
            )
        description = entry.get("description", source["description"])
        unit_amount = None
    else:
        amount = entry["unit_amount"] * quantity
        description = entry["description"]
        unit_amount = entry["unit_amount"]
    return {
        "id": new_id("credit_note_line"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": entry.get("invoice_line_item"),
        "livemode": False,
        "metadata": {},
        "pretax_credit_amounts": [],
        "quantity": quantity,
        "tax_rates": [],
        "taxes": [],
        "type": entry["type"],
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
    }
