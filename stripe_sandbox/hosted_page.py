"""The hosted invoice page (`/i/<invoice id>`) where a customer pays with a test card.

4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined and the page offers a retry;
4000 0000 0000 0259 pays and the payment is then disputed; a paid invoice shows "Paid".
The form posts back here and the answer redirects to the page (post/redirect/get), so a
refresh never pays twice.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from datetime import UTC, datetime
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from stripe_sandbox import invoices
from stripe_sandbox.errors import StripeError
from stripe_sandbox.money import format_amount
from stripe_sandbox.pdf import render_pdf
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject

# Stripe's test card numbers, and the test payment method each one stands for.
TEST_CARDS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_visa_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000259": "pm_card_createDispute",
}


def _luhn_ok(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_problem(number: str, expiry: str, cvc: str, now: datetime) -> str | None:
    """What is wrong with the card form, in the words a checkout page would use."""
    if not re.fullmatch(r"\d{12,19}", number) or not _luhn_ok(number):
        return "Your card number is incorrect."
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", expiry)
    if match is None or not 1 <= int(match.group(1)) <= 12:
        return "Your card's expiration date is incomplete."
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if (year, month) < (now.year, now.month):
        return "Your card's expiration year is in the past."
    if not re.fullmatch(r"\d{3,4}", cvc):
        return "Your card's security code is incomplete."
    if number not in TEST_CARDS:
        return "The sandbox takes Stripe's test cards; try 4242 4242 4242 4242."
    return None


def pay_with_card(sandbox: Sandbox, invoice: StripeObject, form: dict[str, str]) -> tuple[str, str]:
    """Try to pay; returns (kind, message) for the page to show."""
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    today = datetime.fromtimestamp(sandbox.now(), UTC)  # the sandbox clock, which tests move
    problem = card_problem(number, form.get("expiry", ""), form.get("cvc", ""), today)
    if problem:
        return "error", problem
    try:
        with sandbox.store.lock:
            invoices.pay(sandbox, invoice, payment_method=TEST_CARDS[number])
    except StripeError as error:
        return "error", error.message + (" Try another card." if error.status == 402 else "")
    return "success", "Payment received. Thank you!"


def _date(timestamp: int | None) -> str:
    return (
        "—" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%B %d, %Y")
    )


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f6f9fc;
color:#1a1f36;margin:0}main{max-width:460px;margin:40px auto;background:#fff;border-radius:8px;
box-shadow:0 2px 8px rgba(0,0,0,.08);padding:32px}h1{font-size:28px;margin:4px 0 0}
.muted{color:#697386;font-size:14px}.row{display:flex;justify-content:space-between;
padding:6px 0}.lines{border-top:1px solid #e3e8ee;margin-top:16px;padding-top:8px}
.status{display:inline-block;padding:2px 8px;border-radius:4px;font-size:13px;font-weight:600}
.paid{background:#d7f7c2;color:#05690d}.open{background:#cff5f6;color:#0055bc}
.void,.uncollectible,.draft{background:#ebeef1;color:#545969}
label{display:block;font-size:14px;margin-top:12px}input{width:100%;box-sizing:border-box;
padding:10px;border:1px solid #d5dbe1;border-radius:6px;font-size:16px}
button{margin-top:18px;width:100%;padding:12px;border:0;border-radius:6px;background:#635bff;
color:#fff;font-size:16px;cursor:pointer}.notice{padding:10px;border-radius:6px;margin:12px 0}
.error{background:#fde8e8;color:#9b1c1c}.success{background:#d7f7c2;color:#05690d}
.split{display:flex;gap:12px}.split label{flex:1}
.memo,.footer{white-space:pre-line;overflow-wrap:anywhere}.row span{overflow-wrap:anywhere}
"""


def render_page(
    sandbox: Sandbox, invoice: StripeObject, notice: tuple[str, str] | None = None
) -> str:
    currency = invoice["currency"]
    lines = "".join(
        f'<div class="row"><span>{escape(line["description"] or "")}</span>'
        f"<span>{format_amount(line['amount'], currency)}</span></div>"
        for line in invoice["lines"]["data"]
    )
    status = invoice["status"]
    label = {"paid": "Paid", "open": "Open", "void": "Void", "uncollectible": "Uncollectible"}
    banner = ""
    if notice is not None:
        kind = "success" if notice[0] == "success" else "error"
        banner = f'<div class="notice {kind}" role="alert">{escape(notice[1])}</div>'
    if status in ("open", "uncollectible"):
        action = f"/i/{escape(invoice['id'])}/pay"
        payment = f"""
<form method="post" action="{action}">
<label>Card number<input name="card_number" inputmode="numeric" autocomplete="cc-number"
 placeholder="4242 4242 4242 4242" required></label>
<div class="split"><label>Expiry<input name="expiry" placeholder="MM / YY" required></label>
<label>CVC<input name="cvc" inputmode="numeric" placeholder="123" required></label></div>
<label>Name on card<input name="name" autocomplete="cc-name"></label>
<button type="submit">Pay {format_amount(invoice["amount_remaining"], currency)}</button>
</form>"""
    elif status == "paid":
        paid_on = _date(invoice["status_transitions"]["paid_at"])
        payment = f'<p class="notice success"><strong>Paid</strong> on {paid_on}.</p>'
    else:
        payment = f'<p class="notice error">This invoice is {status} and cannot be paid.</p>'
    number = escape(invoice["number"] or "—")
    billed_to = escape(invoice["customer_name"] or invoice["customer_email"] or "")
    total = format_amount(invoice["total"], currency)
    account = escape(sandbox.config.account_name)
    # What the merchant wrote on the invoice is shown as text: escaped, line breaks kept.
    fields = "".join(
        f'<div class="row"><span class="muted">{escape(field["name"])}</span>'
        f"<span>{escape(field['value'])}</span></div>"
        for field in invoice.get("custom_fields") or []
    )
    memo = (
        f'<p class="memo">{escape(invoice["description"])}</p>'
        if invoice.get("description")
        else ""
    )
    footer = (
        f'<p class="muted footer">{escape(invoice["footer"])}</p>' if invoice.get("footer") else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Invoice {number} · {account}</title>
<style>{STYLE}</style></head><body><main>
<div class="muted">{account}</div>
<h1>{format_amount(invoice["amount_due"], currency)}</h1>
<div class="muted">Due {_date(invoice["due_date"])}</div>
<p><span class="status {status}">{label.get(status, status.title())}</span></p>
{banner}
<div class="row"><span class="muted">Invoice number</span><span>{number}</span></div>
<div class="row"><span class="muted">Billed to</span><span>{billed_to}</span></div>
{fields}
{memo}
<div class="lines">{lines}
<div class="row"><strong>Total</strong><strong>{total}</strong></div>
</div>
{payment}
{footer}
<p class="muted"><a href="/i/{escape(invoice["id"])}/pdf">Download invoice (PDF)</a></p>
</main></body></html>"""


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    def finalized(invoice_id: str) -> StripeObject | None:
        invoice = sandbox.store.get("invoice", invoice_id)
        return invoice if invoice is not None and invoice["status"] != "draft" else None

    not_found = HTMLResponse("<h1>Invoice not found</h1>", status_code=404)
    # What the last payment attempt said, behind an unguessable token: a crafted link
    # cannot make the page claim a payment went through.
    notices: OrderedDict[str, tuple[str, str, str]] = OrderedDict()

    async def show(request: Request) -> Response:
        invoice = finalized(request.path_params["id"])
        if invoice is None:
            return not_found
        entry = notices.get(request.query_params.get("notice", ""))
        notice = entry[1:] if entry is not None and entry[0] == invoice["id"] else None
        return HTMLResponse(render_page(sandbox, invoice, notice))

    async def pay(request: Request) -> Response:
        invoice = finalized(request.path_params["id"])
        if invoice is None:
            return not_found
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        kind, message = pay_with_card(sandbox, invoice, fields)
        token = secrets.token_urlsafe(16)
        notices[token] = (invoice["id"], kind, message)
        while len(notices) > 1000:
            notices.popitem(last=False)
        return RedirectResponse(f"/i/{invoice['id']}?notice={token}", status_code=303)

    async def pdf(request: Request) -> Response:
        invoice = finalized(request.path_params["id"])
        if invoice is None:
            return not_found
        name = f"Invoice-{invoice['number']}.pdf"
        return Response(
            render_pdf(invoice, sandbox.config.account_name),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    return [
        Route("/i/{id}", show, methods=["GET"]),
        Route("/i/{id}/pay", pay, methods=["POST"]),
        Route("/i/{id}/pdf", pdf, methods=["GET"]),
    ]
