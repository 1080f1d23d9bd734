"""The invoice PDF that `invoice_pdf` points at, drawn with fpdf2."""

from __future__ import annotations

from datetime import UTC, datetime

from stripe_sandbox.money import format_amount
from stripe_sandbox.store import StripeObject


def _date(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%B %d, %Y")


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1; anything else is shown as '?' rather than failing.
    return (
        text.replace("€", "EUR ").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
    )


def render_pdf(invoice: StripeObject, account_name: str) -> bytes:
    # Imported here: fpdf2 brings fonttools and Pillow (~30 MiB) that most runs never need.
    from fpdf import FPDF

    currency = invoice["currency"]
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice['number'] or invoice['id']}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, "Invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    facts = [
        ("Invoice number", invoice["number"] or "(draft)"),
        ("From", account_name),
        ("Bill to", invoice["customer_name"] or invoice["customer_email"] or invoice["customer"]),
        ("Date of issue", _date(invoice["status_transitions"]["finalized_at"])),
        ("Date due", _date(invoice["due_date"])),
        ("Status", invoice["status"].upper()),
        *((field["name"], field["value"]) for field in invoice.get("custom_fields") or []),
    ]
    for label, value in facts:
        pdf.cell(45, 7, _latin1(label))
        pdf.multi_cell(0, 7, _latin1(str(value)), new_x="LMARGIN", new_y="NEXT")
    if invoice.get("description"):
        pdf.ln(4)
        pdf.multi_cell(0, 6, _latin1(invoice["description"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(140, 8, "Description", border="B")
    pdf.cell(0, 8, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for line in invoice["lines"]["data"]:
        top, description = pdf.get_y(), _latin1(line["description"] or "")
        # A long description wraps; the next line starts below all of it.
        rows = pdf.multi_cell(140, 8, description, dry_run=True, output="LINES")
        assert isinstance(rows, list)
        pdf.multi_cell(140, 8, description, new_x="RIGHT", new_y="TOP")
        pdf.cell(
            0,
            8,
            _latin1(format_amount(line["amount"], currency)),
            align="R",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_y(top + 8 * max(len(rows), 1))
    pdf.set_font("Helvetica", "B", 11)
    for label, cents in (
        ("Total", invoice["total"]),
        ("Amount paid", invoice["amount_paid"]),
        ("Amount remaining", invoice["amount_remaining"]),
    ):
        pdf.cell(140, 8, label, align="R")
        pdf.cell(
            0, 8, _latin1(format_amount(cents, currency)), align="R", new_x="LMARGIN", new_y="NEXT"
        )
    if invoice.get("footer"):
        pdf.ln(8)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(invoice["footer"]), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
