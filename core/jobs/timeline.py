"""A job's history, from what we recorded: the job's own dates, invoicing attempts and
admin actions (audit log), Stripe's events, its refunds and disputes, the notifications
sent and what became of each e-mail (core.notify.outbox_admin), in plain words.

A refund or a dispute stands as its own entry, from its row (core.jobs.money_back_view):
the amount, the person's reason, the status now, the evidence date, the outcome. Stripe's
events about it say each step Stripe took and what we did with it; they carry no amount
or memo, and a refund found by reconciliation has no event at all.

Ordering: Stripe stamps its events (and an invoice's paid time, which becomes the job's
paid time) in whole seconds, our own rows to the microsecond. Something Stripe stamped
12:00:05 happened somewhere in 12:00:05.000-.999, so sorting on the raw times puts it
before anything of ours in that second, even what caused it. So entries are ordered by
their second first, and within a second by when we recorded them (our clock: a Stripe
event when we received it), then by kind and row id, which keeps the order stable; our
record of a step that waited for Stripe's answer comes after what Stripe did in it. An
e-mail stands at the moment it was queued, which is its notification's transaction, so it
follows the notification it carries; its words say where it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.money_back_events import MONEY_BACK_EVENT_TYPES
from core.db.models import (
    Account,
    AuditLog,
    Customer,
    Job,
    Notification,
    ServiceProvider,
    StripeEvent,
)
from core.identity.actor import Actor
from core.identity.permissions import load_job
from core.jobs.money_back_view import DisputeLine, RefundLine, job_money_back
from core.money import format_cents
from core.notify.outbox_admin import JobMessage, messages_for_job

EVENT_TEXT = {
    "invoice.created": "Invoice created",
    "invoice.finalized": "Invoice finalized",
    "invoice.sent": "Invoice sent to the customer",
    "invoice.paid": "Invoice paid",
    "invoice.payment_succeeded": "Payment succeeded",
    "invoice.payment_failed": "Payment failed",
    "invoice.voided": "Invoice voided",
    "invoice.marked_uncollectible": "Invoice marked uncollectible",
    "invoice.updated": "Invoice updated",
    "invoice.deleted": "Invoice deleted",
    "invoice_payment.paid": "Payment recorded by Stripe",
    "refund.created": "Refund made in Stripe",
    "refund.updated": "Refund updated in Stripe",
    "refund.failed": "Refund failed in Stripe",
    "charge.refunded": "Stripe refunded the charge",
    "credit_note.created": "Credit note issued",
    "credit_note.voided": "Credit note voided",
    "charge.dispute.created": "Dispute opened by the customer's bank",
    "charge.dispute.updated": "Dispute updated",
    "charge.dispute.closed": "Dispute closed",
    "charge.dispute.funds_withdrawn": "Disputed money withdrawn by the bank",
    "charge.dispute.funds_reinstated": "Disputed money returned by the bank",
}
# What became of a Stripe event here (core.billing.webhooks outcomes), for people.
OUTCOME_TEXT = {
    "applied": "payment recorded",
    "already_applied": "payment already recorded",
    "customer_notified": "customer told",
    "ignored_already_paid": "already paid: nothing to do",
    "ignored": "nothing to do",
    "recorded": "",
    "duplicate": "a repeat of an event already handled",
    "rejected": "refused",
    "orphan": "names no job of ours",
    "amount_mismatch": "refused: paid for another amount",
    "malformed": "refused: not a valid event",
    "job_cancelled": "the job was cancelled: needs a person",
    "error": "failed: will be handled again",
    # Money moving back (core.billing.money_back_events).
    "refund_applied": "refund recorded",
    "refund_pending": "refund pending",
    "refund_requires_action": "refund waiting on the customer",
    "refund_succeeded": "refund went through",
    "refund_failed": "refund failed: it no longer comes off earnings",
    "refund_canceled": "refund canceled: it no longer comes off earnings",
    "dispute_warning_needs_response": "inquiry recorded: evidence needed",
    "dispute_warning_under_review": "inquiry: the bank is reviewing the evidence",
    "dispute_warning_closed": "inquiry closed without a dispute",
    "dispute_needs_response": "dispute recorded: evidence needed, the money is held",
    "dispute_under_review": "the bank is reviewing the evidence",
    "dispute_won": "dispute won: the money stays",
    "dispute_lost": "dispute lost: taken off earnings",
    "dispute_prevented": "dispute prevented",
    "unmatched": "its payment is not traced yet: reconciliation traces it",
    "refund_unrecorded": "Stripe refunded more than recorded here: reconciliation fetches it",
}
# The same outcomes, said of a refund or dispute rather than of a payment.
MONEY_BACK_OUTCOME_TEXT = {
    "already_applied": "already recorded",
    "amount_mismatch": "refused: more than the payment",
}
AUDIT_TEXT = {
    "job.completed": "Marked complete",
    "job.cancelled": "Cancelled",
    "invoice.send": "Invoice sent",
    "invoice.resend": "Invoice sent again",
    "payment.manual": "Payment recorded by hand",
    "payment.manual.stripe": "Invoice marked paid in Stripe",
    "payment.attach": "Paid invoice attached to this job",
    "invoice.reissue": "Invoice voided and re-issued",
    "reminder.sent": "Reminder sent",
}
# Each kind of e-mail by the name its reader knows it by.
EMAIL_TEXT = {
    "payment_confirmed": "Payment confirmed",
    "payment_received": "Payment received",
    "payment_failed": "Payment failed",
    "reminder": "Payment reminder",
    "invoice_sent": "Invoice waiting",
    "refund": "Refund",
    "refund_recorded": "Refund recorded",
    "dispute_opened": "Dispute opened",
    "dispute_won": "Dispute won",
    "dispute_lost": "Dispute lost",
}
# Within one second and one recording time: the job's own dates, then what we did, then
# what Stripe told us and the refund or dispute it was about, then whom we told and the
# e-mail that tells them.
SOURCE_ORDER = {"job": 0, "audit": 1, "stripe": 2, "money_back": 3, "notification": 4, "email": 5}
# Audit rows written once Stripe has answered: they close the step, so within their second
# they follow what Stripe did for it (whose events may reach us after the row is written).
AFTER_STRIPE = ("invoice.send", "invoice.resend", "invoice.reissue", "payment.attach")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime  # when it happened
    what: str
    detail: str
    source: str  # job, audit, stripe, money_back, notification, email


@dataclass(frozen=True)
class _Recorded:
    entry: TimelineEntry
    recorded: datetime  # when we wrote it down, by our own clock
    row_id: int
    closes_step: bool = False

    def order(self) -> tuple[datetime, bool, datetime, int, int]:
        second = self.entry.at.replace(microsecond=0)
        source = SOURCE_ORDER[self.entry.source]
        return (second, self.closes_step, self.recorded, source, self.row_id)


def plain(words: str) -> str:
    """An identifier such as `paid_in_stripe` or `invoice.updated` as words."""
    return words.replace("_", " ").replace(".", " ").strip()


def job_timeline(session: Session, *, job_id: int, actor: Actor) -> list[TimelineEntry]:
    job = load_job(session, job_id, actor)
    names = _Names(session)
    audits = list(session.scalars(select(AuditLog).where(AuditLog.job_id == job_id)))
    events = list(session.scalars(select(StripeEvent).where(StripeEvent.job_id == job_id)))
    notes = list(session.scalars(select(Notification).where(Notification.job_id == job_id)))

    made: list[_Recorded] = []
    created = TimelineEntry(job.created_at, "Job created", job.service.name, "job")
    made.append(_Recorded(created, job.created_at, 0))
    completions = [a for a in audits if a.action == "job.completed" and a.result == "ok"]
    if job.completed_at:
        # The audit row says who; the job's date says when (seeded jobs have no audit row).
        by = f"by {names.of(completions[0].actor)}" if completions else ""
        made.append(
            _Recorded(TimelineEntry(job.completed_at, "Completed", by, "job"), job.completed_at, 1)
        )
    if job.paid_at:
        made.append(_Recorded(_paid(job), _credited_at(job, notes), 2))
    for entry in audits:
        if entry in completions:
            continue
        closes = entry.action in AFTER_STRIPE or entry.action.startswith("reconcile.")
        made.append(_Recorded(_audit_entry(entry, names), entry.created_at, entry.id, closes))
    for event in events:
        made.append(_Recorded(_event_entry(event), event.received_at, event.id))
    back = job_money_back(session, job_id)
    for number, refund in enumerate(back.refunds):
        made.append(_Recorded(_refund_entry(refund), refund.recorded_at, number))
    for number, dispute in enumerate(back.disputes):
        opened, closed = _dispute_entries(dispute)
        made.append(_Recorded(opened, dispute.recorded_at, number))
        if closed is not None:
            # Closed later than it was recorded: placed by its closing time.
            made.append(_Recorded(closed, max(closed.at, dispute.recorded_at), number))
    for note in notes:
        text = f"to the {note.recipient_kind}: {note.title}"
        made.append(
            _Recorded(
                TimelineEntry(note.created_at, "Notification", text, "notification"),
                note.created_at,
                note.id,
            )
        )
    for message in messages_for_job(session, job_id):
        queued = message.created_at or job.created_at
        made.append(_Recorded(_email_entry(message, queued), queued, message.id))
    return [r.entry for r in sorted(made, key=_Recorded.order)]


def email_status(message: JobMessage) -> str:
    """Where an e-mail stands, in words: "sent", "failed after 3 attempts: ...", ..."""
    tries = f"{message.attempts} attempt{'' if message.attempts == 1 else 's'}"
    why = f": {message.last_error}" if message.last_error else ""
    if message.status == "sent":
        return "sent"
    if message.status == "failed":
        return f"failed after {tries}{why}"
    if message.status == "not_configured":
        return "not sent: e-mail is not configured"
    if message.status == "sending":
        return "being sent"
    if message.attempts:
        return f"queued to try again after {tries}{why}"
    return plain(message.status)


def _email_entry(message: JobMessage, queued: datetime) -> TimelineEntry:
    name = EMAIL_TEXT.get(message.kind, plain(message.kind).capitalize())
    to = message.to_address or "no address"
    return TimelineEntry(queued, f"E-mail '{name}' to {to}", email_status(message), "email")


def _paid(job: Job) -> TimelineEntry:
    assert job.paid_at is not None
    how = "by hand" if job.payment.method == "manual" else "through Stripe"
    return TimelineEntry(
        job.paid_at, "Paid", f"{format_cents(job.payment.amount)} received {how}", "job"
    )


def _credited_at(job: Job, notes: list[Notification]) -> datetime:
    """When we recorded the payment: every credit tells the provider in its own
    transaction (core.billing.payments.credit_payment), so that note's time is it. The
    paid time itself is often Stripe's, in whole seconds."""
    assert job.paid_at is not None
    told = [
        n.created_at
        for n in notes
        if n.kind == "payment_received" and n.recipient_kind == "provider"
    ]
    return min(told, default=job.paid_at)


def _audit_entry(entry: AuditLog, names: _Names) -> TimelineEntry:
    what = AUDIT_TEXT.get(entry.action, plain(entry.action).capitalize())
    if entry.action.startswith("reconcile."):
        what = "Reconciled: " + plain(entry.action.removeprefix("reconcile."))
    if entry.result != "ok":
        what += " — failed"
    if entry.action == "reminder.sent" and entry.result == "ok":
        # Sent by the schedule: its timing is the news, not who ran it.
        return TimelineEntry(entry.created_at, what, _reminder_words(entry.after), "audit")
    parts = []
    amount = _amount(entry.after)
    if amount is not None:
        parts.append(format_cents(amount))
    if entry.error:
        parts.append(entry.error)
    if entry.reason:
        parts.append(f"reason: {entry.reason}")
    parts.append(f"by {names.of(entry.actor)}")
    return TimelineEntry(entry.created_at, what, " · ".join(parts), "audit")


def _reminder_words(after: dict[str, Any] | None) -> str:
    timing = (after or {}).get("reminder")
    return timing if isinstance(timing, str) else ""


def _amount(after: dict[str, Any] | None) -> int | None:
    value = (after or {}).get("amount_due")
    return value if isinstance(value, int) else None


def _event_entry(event: StripeEvent) -> TimelineEntry:
    what = EVENT_TEXT.get(event.type, "Stripe: " + plain(event.type))
    money_back = event.type in MONEY_BACK_EVENT_TYPES
    if event.outcome is None:
        detail = "received, not handled yet"
    else:
        words = {**OUTCOME_TEXT, **MONEY_BACK_OUTCOME_TEXT} if money_back else OUTCOME_TEXT
        detail = words.get(event.outcome, plain(event.outcome))
        why = event.error or event.detail
        # A money-back event recorded with a detail says something (how much Stripe has
        # refunded of the charge in all).
        quiet = ("applied", "customer_notified") + (() if money_back else ("recorded",))
        if why and event.outcome not in quiet:
            detail = f"{detail}: {why}" if detail else why
    return TimelineEntry(event.created, what, detail, "stripe")


def _refund_entry(refund: RefundLine) -> TimelineEntry:
    """ "Refund of $50.00" on the refund's date: its status, and why (the person's words)."""
    parts = [refund.status_text]
    if refund.memo and refund.memo.strip():
        parts.append(f"reason: {refund.memo.strip()}")
    if refund.reason:
        parts.append(plain(refund.reason))
    if refund.credit_note_id:
        parts.append("by a credit note")
    what = f"Refund of {format_cents(refund.amount, refund.currency)}"
    return TimelineEntry(refund.created, what, " · ".join(parts), "money_back")


def _dispute_entries(dispute: DisputeLine) -> tuple[TimelineEntry, TimelineEntry | None]:
    """The dispute opened (why, and by when evidence is due while it is open), and how it
    ended once it is closed (None while open)."""
    money = format_cents(dispute.amount, dispute.currency)
    parts = [f"reason: {plain(dispute.reason)}"] if dispute.reason else []
    if dispute.is_open:
        parts.append(f"{dispute.status_text}; the money is held until the bank decides")
        if dispute.evidence_due_by is not None:
            parts.append(f"evidence due by {dispute.evidence_due_by:%Y-%m-%d %H:%M} UTC")
    opened = TimelineEntry(
        dispute.created, f"Dispute of {money} opened", " · ".join(parts), "money_back"
    )
    if dispute.is_open:
        return opened, None
    ended = {"warning_closed": "closed"}.get(dispute.status, plain(dispute.status))
    closed = TimelineEntry(
        dispute.closed_at or dispute.created,
        f"Dispute of {money} {ended}",
        dispute.outcome or "",
        "money_back",
    )
    return opened, closed


class _Names:
    """People's names for the audit log's actor labels ("provider:3", "admin:1", "system")."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[str, str] = {}

    def of(self, label: str) -> str:
        if label not in self.known:
            self.known[label] = self._look_up(label)
        return self.known[label]

    def _look_up(self, label: str) -> str:
        role, _, number = label.partition(":")
        if not number.isdigit():
            return "the system" if role == "system" else plain(label)
        row_id = int(number)
        name: str | None = None
        if role == "provider":
            name = self.session.scalar(
                select(ServiceProvider.name).where(ServiceProvider.id == row_id)
            )
        elif role == "customer":
            name = self.session.scalar(select(Customer.name).where(Customer.id == row_id))
        elif role in ("admin", "finance"):
            name = self.session.scalar(select(Account.display_name).where(Account.id == row_id))
        return name or f"{role} #{row_id}"
