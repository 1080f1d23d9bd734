"""What an e-mail says, read from the database when it is sent: the job (number, service,
provider, date), the amount, and the pay link of the job's current invoice, so a message
queued hours ago still carries today's link and balance. A refund's or dispute's e-mail
gives that refund's or dispute's own amount (core.notify.money_back_facts)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import get_settings
from core.db.models import (
    Customer,
    EmailMessage,
    Job,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeInvoice,
)
from core.notify.money_back_facts import MONEY_BACK_KINDS, REFUND_TO_CUSTOMER, told

# The reminder's outbox key names the schedule step: "reminder:<invoice id>:<days>".
_REMINDER_KEY = re.compile(r"^reminder:[^:]+:(-?[0-9]+)$")
# Kinds whose amount is what the customer still owes on the current invoice.
_OWED_KINDS = frozenset({"invoice_sent", "payment_failed", "reminder"})
PROVIDER_KINDS = frozenset({"payment_received"}) | (MONEY_BACK_KINDS - {REFUND_TO_CUSTOMER})
# The template of any kind without its own: the notification's own title and text.
GENERIC = "notice"


@dataclass(frozen=True)
class EmailFacts:
    """Everything a template may show. Names are single lines; `pay_url` is http(s) or
    None; `days` (reminders) counts from the due date, negative before it."""

    recipient_name: str
    job_number: int
    service: str
    provider: str
    customer: str
    job_date: date | None
    description: str | None
    amount: int | None  # cents; None when not known (the notice then names none)
    currency: str
    pay_url: str | None = None
    due_date: date | None = None
    invoice_number: str | None = None
    days: int | None = None
    reason: str | None = None  # refunds: the memo the person who refunded wrote
    paid: int | None = None  # refunds and disputes: the job's payment
    still_paid: int | None = None  # refunds: the payment less every refund so far
    evidence_due: date | None = None  # disputes: when our answer is due
    title: str = ""
    body: str = ""


def one_line(text: str | None) -> str:
    """Text fit for a header or a name: control characters and line breaks of any kind
    (CR, LF, U+2028, ...) become single spaces, so no one can start a new header line."""
    if not text:
        return ""
    visible = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
    return " ".join(visible.split())


def safe_url(url: str | None) -> str | None:
    """A link we may put in an e-mail: http or https only (never javascript: or data:)."""
    if not url or one_line(url) != url or " " in url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment is not None else None


def reminder_days(message: EmailMessage, due: date | None) -> int | None:
    """How early or late the invoice was when the reminder was queued: the days from its
    due date to that day, as the reminder's notification counts them (a run that comes
    late sends one step for a later day); the step in its outbox key when the due date is
    not known."""
    if due is not None and message.created_at is not None:
        return (message.created_at.date() - due).days
    found = _REMINDER_KEY.match(message.message_key or "")
    return int(found.group(1)) if found else None


def facts_for(session: Session, message: EmailMessage) -> tuple[str, EmailFacts]:
    """The kind to render and its facts, for an outbox row; LookupError when the row
    names no notification or job we hold."""
    note = session.get(Notification, message.notification_id) if message.notification_id else None
    kind = message.kind or (note.kind if note else "")
    job_id = message.job_id or (note.job_id if note else None)
    row = (
        session.execute(
            select(Job, Service.name, ServiceProvider.name, Customer.name)
            .join(Service, Service.id == Job.service_id)
            .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
            .join(Customer, Customer.id == Job.customer_id)
            .where(Job.id == job_id)
        ).first()
        if job_id is not None
        else None
    )
    if row is None:
        raise LookupError(f"outbox message {message.id} names no job")
    job, service, provider, customer = row
    payment_amount = session.scalar(select(Payment.amount).where(Payment.job_id == job.id))
    invoice = session.scalar(
        select(StripeInvoice).where(
            StripeInvoice.job_id == job.id, StripeInvoice.is_current.is_(True)
        )
    )
    amount: int | None = payment_amount or job.price
    currency = invoice.currency if invoice is not None else get_settings().currency
    if kind in _OWED_KINDS and invoice is not None and invoice.amount_remaining > 0:
        amount = invoice.amount_remaining
    to_provider = note.recipient_kind == "provider" if note else kind in PROVIDER_KINDS
    money_back = told(session, kind, job.id, note.created_at) if note is not None else None
    if money_back is not None:
        amount, currency = money_back.amount, money_back.currency
    elif kind in MONEY_BACK_KINDS:
        # No refund or dispute fits, so no amount of its own: the notification's words,
        # which name the amount it was written with, and not the payment's amount.
        kind, amount = GENERIC, None
    due = _day(invoice.due_date) if invoice is not None else None
    return kind, EmailFacts(
        recipient_name=one_line(provider if to_provider else customer),
        job_number=job.id,
        service=one_line(service),
        provider=one_line(provider),
        customer=one_line(customer),
        job_date=_day(job.completed_at or job.created_at),
        description=job.description,
        amount=amount,
        currency=currency,
        # Only an open invoice can be paid; a paid or voided one's page asks nothing.
        pay_url=(
            safe_url(invoice.hosted_invoice_url)
            if invoice is not None and invoice.status == "open"
            else None
        ),
        due_date=due,
        invoice_number=(one_line(invoice.number) or None) if invoice is not None else None,
        days=reminder_days(message, due) if kind == "reminder" else None,
        reason=money_back.reason if money_back is not None else None,
        paid=money_back.paid if money_back is not None else None,
        still_paid=money_back.still_paid if money_back is not None else None,
        evidence_due=money_back.evidence_due if money_back is not None else None,
        title=one_line(note.title) if note else "",
        body=note.body if note else "",
    )
