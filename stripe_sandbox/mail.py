"""The e-mails Stripe sends its customers in live mode: the invoice and the receipt.

Stripe's test mode sends none; the sandbox, given an SMTP server (`--smtp`), sends them so
that a demo shows what a customer receives. Messages go out from a background thread, so
that a slow or absent mail server never delays or fails the API call that caused them:
delivery errors are logged and the message is dropped, as nothing in the API depends on it.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from html import escape
from typing import Any
from urllib.parse import urlsplit

from stripe_sandbox.money import format_amount

log = logging.getLogger("stripe_sandbox.mail")

SENDER_ADDRESS = "invoice+statements@stripe.example"


def _date(timestamp: int | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%B %d, %Y")


def _amount(invoice: dict[str, Any], key: str) -> str:
    return format_amount(int(invoice[key]), str(invoice["currency"]))


def _custom_fields(invoice: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(f["name"]), str(f["value"])) for f in invoice.get("custom_fields") or []]


def _message(
    account_name: str, invoice: dict[str, Any], now: int, subject: str, text: str, html: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((account_name, SENDER_ADDRESS))
    message["To"] = invoice["customer_email"]
    message["Date"] = formatdate(now)  # the sandbox's clock, which a demo may have moved
    message["Message-ID"] = make_msgid(domain="stripe.example")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _html(title: str, rows: list[tuple[str, str]], buttons: list[tuple[str, str]]) -> str:
    """A plain HTML body; every value is escaped, since names and memos are the user's."""
    table = "".join(
        f"<tr><td>{escape(label)}</td><td><strong>{escape(value)}</strong></td></tr>"
        for label, value in rows
    )
    links = " ".join(
        f'<a href="{escape(url, quote=True)}" style="padding:8px 14px;background:#635bff;'
        f'color:#fff;border-radius:4px;text-decoration:none">{escape(label)}</a>'
        for label, url in buttons
    )
    return (
        f'<!doctype html><html><body style="font-family:sans-serif;color:#1a1f36">'
        f"<h1>{escape(title)}</h1><table>{table}</table><p>{links}</p></body></html>"
    )


def _text(title: str, rows: list[tuple[str, str]], buttons: list[tuple[str, str]]) -> str:
    lines = [title, ""]
    lines += [f"{label}: {value}" for label, value in rows]
    lines += [""] + [f"{label}: {url}" for label, url in buttons]
    return "\n".join(lines) + "\n"


def invoice_email(account_name: str, invoice: dict[str, Any], now: int) -> EmailMessage:
    """What Stripe sends on `POST /v1/invoices/{id}/send`: the amount, due date and links.

    A paid invoice is e-mailed without asking for payment, as Stripe does."""
    paid = invoice["status"] == "paid"
    rows = [("Invoice number", str(invoice["number"]))]
    if paid:
        rows.append(("Amount paid", _amount(invoice, "amount_paid")))
    else:
        rows += [
            ("Amount due", _amount(invoice, "amount_remaining")),
            ("Due", _date(invoice["due_date"])),
        ]
    rows += _custom_fields(invoice)
    if invoice.get("description"):
        rows.append(("Memo", str(invoice["description"])))
    link = str(invoice["hosted_invoice_url"])
    buttons = [("View invoice", link)] if paid else [("View invoice", link), ("Pay now", link)]
    title = f"New invoice from {account_name}"
    return _message(
        account_name,
        invoice,
        now,
        title,
        _text(title, rows, buttons),
        _html(title, rows, buttons),
    )


def receipt_email(account_name: str, invoice: dict[str, Any], now: int) -> EmailMessage:
    """What Stripe sends after a successful payment: the amount paid and when."""
    rows = [
        ("Invoice number", str(invoice["number"])),
        ("Amount paid", _amount(invoice, "amount_paid")),
        ("Date paid", _date(invoice["status_transitions"]["paid_at"])),
    ]
    if invoice.get("description"):
        rows.append(("Memo", str(invoice["description"])))
    buttons = [("View invoice", str(invoice["hosted_invoice_url"]))]
    title = f"Your receipt from {account_name}"
    return _message(
        account_name,
        invoice,
        now,
        title,
        _text(title, rows, buttons),
        _html(title, rows, buttons),
    )


class Mailer:
    """Sends messages to one SMTP server (`smtp://host:port`) from a background thread."""

    def __init__(self, smtp_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(smtp_url if "//" in smtp_url else f"smtp://{smtp_url}")
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError(f"not an smtp://host:port address: {smtp_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 25
        self.timeout = timeout
        self._queue: queue.Queue[EmailMessage | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-mail", daemon=True)
        self._thread.start()

    def send(self, message: EmailMessage) -> None:
        self._queue.put(message)

    def flush(self) -> None:
        """Wait until every message handed over so far has been sent or given up."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            try:
                if message is None:
                    return
                with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                    server.send_message(message)
            except (OSError, smtplib.SMTPException) as error:
                log.warning("could not send %r: %s", message and message["Subject"], error)
            finally:
                self._queue.task_done()
