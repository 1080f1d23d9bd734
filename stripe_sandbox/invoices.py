"""The invoice lifecycle, as Stripe's docs describe it.

draft → open (finalize) → paid | void | uncollectible; uncollectible → paid | void.
Only drafts take new lines or can be deleted; only finalized invoices can be voided.
Every change emits its event and then `invoice.updated` with the previous values.

Finalizing applies the customer's balance (positive: they owe it) to the amount due; an
amount due below Stripe's minimum charge is not collected but moved back onto the balance,
and an invoice with nothing left to collect is paid at once. Voiding gives back what the
invoice took from the balance.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stripe_sandbox import disputes, mail, objects, payments
from stripe_sandbox.errors import StripeError, invalid_request, no_such
from stripe_sandbox.money import MINIMUM_CHARGE
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject

# Stripe's test payment methods: success, or a decline with its code.
SUCCEEDING_METHODS = {
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    *disputes.DISPUTING_METHODS,
}
DECLINING_METHODS = {
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
}


@contextmanager
def updating(sandbox: Sandbox, invoice: StripeObject) -> Iterator[None]:
    """Emit `invoice.updated` with the top-level fields the block changed."""
    before = copy.deepcopy(invoice)
    yield
    changed = {key: before[key] for key in before if before[key] != invoice.get(key)}
    changed = {key: value for key, value in changed.items() if not key.startswith("_")}
    if changed:
        sandbox.store.touch()
        sandbox.emit("invoice.updated", invoice, previous_attributes=changed)


def recompute_amounts(invoice: StripeObject) -> None:
    subtotal = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice["subtotal"] = invoice["subtotal_excluding_tax"] = subtotal
    invoice["total"] = invoice["total_excluding_tax"] = subtotal
    invoice["amount_due"] = subtotal
    invoice["amount_remaining"] = max(subtotal - invoice["amount_paid"], 0)
    invoice["lines"]["total_count"] = len(invoice["lines"]["data"])


def require_draft(invoice: StripeObject) -> None:
    if invoice["status"] != "draft":
        raise invalid_request(
            f"You can only add invoice items to draft invoices; {invoice['id']} is "
            f"{invoice['status']}.",
            param="invoice",
            code="invoice_not_editable",
        )


def add_item(sandbox: Sandbox, invoice: StripeObject, item: StripeObject) -> None:
    require_draft(invoice)
    with updating(sandbox, invoice):
        invoice["lines"]["data"].append(objects.line_item(item, invoice["id"]))
        recompute_amounts(invoice)


def finalize(sandbox: Sandbox, invoice: StripeObject, auto_advance: bool | None = None) -> None:
    if invoice["status"] != "draft":
        raise invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    buyer = sandbox.store.get("customer", invoice["customer"])
    if buyer is None:
        raise no_such("customer", invoice["customer"], param="customer")
    now = sandbox.now()
    base = sandbox.config.public_url.rstrip("/")
    with updating(sandbox, invoice):
        invoice["number"] = f"{buyer['invoice_prefix']}-{buyer['next_invoice_sequence']:04d}"
        buyer["next_invoice_sequence"] += 1
        invoice["status"] = "open"
        invoice["status_transitions"]["finalized_at"] = now
        invoice["effective_at"] = now
        if invoice["_days_until_due"] is not None:
            invoice["due_date"] = now + invoice["_days_until_due"] * 86400
        invoice["hosted_invoice_url"] = f"{base}/i/{invoice['id']}"
        invoice["invoice_pdf"] = f"{base}/i/{invoice['id']}/pdf"
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        _apply_balance(invoice, customer_balance(buyer, invoice["currency"]))
        sandbox.emit("invoice.finalized", invoice)
        set_customer_balance(sandbox, buyer, invoice["currency"], invoice["ending_balance"])
        if invoice["amount_due"] == 0:
            # Stripe marks an invoice with nothing to collect paid as it finalizes: $0, all
            # covered by the customer's credit, or below the minimum charge.
            _mark_paid(sandbox, invoice, now)


def _apply_balance(invoice: StripeObject, starting: int) -> None:
    """The amount due once the customer's balance is applied and the minimum charge checked.

    A debit (positive balance) adds to the amount due and a credit takes from it; credit
    beyond the total stays on the balance. An amount due above zero but below the
    currency's minimum charge is not collected: it goes back onto the balance as a debit
    for the next invoice (Stripe's `invoice_too_small`), and the invoice is paid at $0.
    """
    net = invoice["total"] + starting
    amount_due, ending = max(net, 0), min(net, 0)
    if 0 < amount_due < MINIMUM_CHARGE[invoice["currency"]]:
        amount_due, ending = 0, ending + amount_due
    invoice["starting_balance"] = starting
    invoice["ending_balance"] = ending
    invoice["amount_due"] = amount_due
    invoice["amount_remaining"] = max(amount_due - invoice["amount_paid"], 0)


def customer_balance(buyer: StripeObject, currency: str) -> int:
    """The customer's invoice balance in a currency: positive is owed, negative is credit."""
    balances: dict[str, int] = buyer.get("_balances", {})
    return balances.get(currency, 0)


def set_customer_balance(sandbox: Sandbox, buyer: StripeObject, currency: str, amount: int) -> None:
    """Change the customer's balance in a currency, with `customer.updated` when it shows.

    `balance` is the balance in the customer's currency; a customer without one takes this
    currency, as a balance transaction sets it in Stripe. Drafts in this currency show the
    new balance as their `starting_balance`, which Stripe keeps current until finalization.
    """
    if customer_balance(buyer, currency) == amount:
        return
    before = {"balance": buyer["balance"], "currency": buyer["currency"]}
    buyer.setdefault("_balances", {})[currency] = amount
    if buyer["currency"] is None:
        buyer["currency"] = currency
    if buyer["currency"] == currency:
        buyer["balance"] = amount
    for draft in sandbox.store.newest_first(
        "invoice",
        lambda i: (
            i["customer"] == buyer["id"] and i["status"] == "draft" and i["currency"] == currency
        ),
    ):
        draft["starting_balance"] = amount
    sandbox.store.touch()
    changed = {key: value for key, value in before.items() if buyer[key] != value}
    if changed:
        sandbox.emit("customer.updated", buyer, previous_attributes=changed)


def send(sandbox: Sandbox, invoice: StripeObject) -> None:
    if invoice["collection_method"] != "send_invoice":
        raise invalid_request(
            "You can only send invoices that have collection_method=send_invoice.",
            code="invoice_not_editable",
        )
    if invoice["status"] == "draft":
        finalize(sandbox, invoice)
    if invoice["status"] == "void":
        raise invalid_request("You cannot send a void invoice.", code="invoice_not_editable")
    # A paid invoice can be sent too (a $0 draft is paid by the finalize above); Stripe
    # then emails it without asking for payment.
    sandbox.emit("invoice.sent", invoice)
    sandbox.mail_customer(mail.invoice_email, invoice)


def pay(
    sandbox: Sandbox,
    invoice: StripeObject,
    *,
    payment_method: str | None = None,
    paid_out_of_band: bool = False,
) -> None:
    status = invoice["status"]
    if status == "draft":
        raise invalid_request(
            "This invoice is a draft; finalize it before paying it.", code="invoice_not_editable"
        )
    if status == "paid":
        raise invalid_request("Invoice is already paid.")
    if status == "void":
        raise invalid_request("This invoice is void and can no longer be paid.")
    now = sandbox.now()
    if paid_out_of_band:
        with updating(sandbox, invoice):
            # Shown as `amount_paid_off_stripe` when the caller asks for it (expand[]).
            invoice["_amount_paid_off_stripe"] = invoice["amount_remaining"]
            _mark_paid(sandbox, invoice, now, succeeded_event=False)
        return
    if payment_method is None:
        raise invalid_request(
            "This invoice has no payment method to charge: pass payment_method, or "
            "paid_out_of_band=true for a payment made outside Stripe.",
            param="payment_method",
        )
    if payment_method not in SUCCEEDING_METHODS and payment_method not in DECLINING_METHODS:
        raise no_such("PaymentMethod", payment_method, param="payment_method")
    charge = None
    with updating(sandbox, invoice):
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if payment_method in DECLINING_METHODS:
            sandbox.emit("invoice.payment_failed", invoice)
        else:
            charge = payments.record_card_payment(
                sandbox, invoice, payment_method, invoice["amount_remaining"]
            )
            _mark_paid(sandbox, invoice, now)
    if payment_method in DECLINING_METHODS:
        raise card_declined(payment_method)
    if charge is not None and payment_method in disputes.DISPUTING_METHODS:
        disputes.open_dispute(sandbox, charge)
    sandbox.mail_customer(mail.receipt_email, invoice)  # for a payment Stripe took only


def card_declined(payment_method: str) -> StripeError:
    code, decline_code, message = DECLINING_METHODS[payment_method]
    return StripeError(402, "card_error", message, code=code, decline_code=decline_code)


def void(sandbox: Sandbox, invoice: StripeObject) -> None:
    if invoice["status"] not in ("open", "uncollectible"):
        hint = " Delete a draft instead." if invoice["status"] == "draft" else ""
        raise invalid_request(
            f"You can only void open or uncollectible invoices; this invoice is "
            f"{invoice['status']}.{hint}",
            code="invoice_not_editable",
        )
    with updating(sandbox, invoice):
        invoice["status"] = "void"
        invoice["amount_remaining"] = 0
        invoice["status_transitions"]["voided_at"] = sandbox.now()
        sandbox.emit("invoice.voided", invoice)
    # The balance the invoice took is debited or credited back (Stripe, since 2019-12-03).
    taken = invoice["starting_balance"] - (invoice["ending_balance"] or 0)
    buyer = sandbox.store.get("customer", invoice["customer"])
    if taken and buyer is not None:
        currency = invoice["currency"]
        set_customer_balance(sandbox, buyer, currency, customer_balance(buyer, currency) + taken)


def mark_uncollectible(sandbox: Sandbox, invoice: StripeObject) -> None:
    if invoice["status"] != "open":
        raise invalid_request(
            f"You can only mark open invoices uncollectible; this invoice is {invoice['status']}.",
            code="invoice_not_editable",
        )
    with updating(sandbox, invoice):
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = sandbox.now()
        sandbox.emit("invoice.marked_uncollectible", invoice)


def delete(sandbox: Sandbox, invoice: StripeObject) -> dict[str, Any]:
    if invoice["status"] != "draft":
        raise invalid_request(
            "You can only delete draft invoices; void a finalized invoice instead.",
            code="invoice_not_editable",
        )
    for line in invoice["lines"]["data"]:
        item_id = line["parent"]["invoice_item_details"]["invoice_item"]
        sandbox.store.remove("invoiceitem", item_id)
    sandbox.store.remove("invoice", invoice["id"])
    sandbox.emit("invoice.deleted", invoice)
    return {"id": invoice["id"], "object": "invoice", "deleted": True}


def mark_paid(sandbox: Sandbox, invoice: StripeObject) -> None:
    """Paid with nothing collected, as when credit notes leave nothing to pay."""
    _mark_paid(sandbox, invoice, sandbox.now(), succeeded_event=False)


def _mark_paid(
    sandbox: Sandbox, invoice: StripeObject, now: int, *, succeeded_event: bool = True
) -> None:
    invoice["status"] = "paid"
    invoice["amount_paid"] = invoice["amount_due"]
    invoice["amount_remaining"] = 0
    invoice["status_transitions"]["paid_at"] = now
    sandbox.emit("invoice.paid", invoice)
    if succeeded_event:
        sandbox.emit("invoice.payment_succeeded", invoice)
