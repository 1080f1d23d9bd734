"""A job's history, from what we recorded: the job's own dates, invoicing attempts and
admin actions (audit log), Stripe's events, and the notifications sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import AuditLog, Notification, StripeEvent
from core.identity.actor import Actor
from core.identity.permissions import load_job

EVENT_TEXT = {
    "invoice.finalized": "Invoice finalized",
    "invoice.sent": "Invoice sent to the customer",
    "invoice.paid": "Invoice paid",
    "invoice.payment_succeeded": "Payment succeeded",
    "invoice.payment_failed": "Payment failed",
    "invoice.voided": "Invoice voided",
    "invoice.marked_uncollectible": "Invoice marked uncollectible",
}
AUDIT_TEXT = {
    "job.completed": "Marked complete",
    "job.cancelled": "Cancelled",
    "invoice.send": "Invoice sent",
    "invoice.resend": "Invoice sent again",
    "payment.manual": "Payment recorded by hand",
    "invoice.reissue": "Invoice voided and re-issued",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str
    source: str  # job, audit, stripe, notification


def job_timeline(session: Session, *, job_id: int, actor: Actor) -> list[TimelineEntry]:
    job = load_job(session, job_id, actor)
    entries = [TimelineEntry(job.created_at, "Job created", job.service.name, "job")]
    if job.completed_at:
        entries.append(TimelineEntry(job.completed_at, "Completed", "", "job"))
    if job.paid_at:
        entries.append(TimelineEntry(job.paid_at, "Paid", "", "job"))
    for entry in session.scalars(select(AuditLog).where(AuditLog.job_id == job_id)):
        what = AUDIT_TEXT.get(entry.action, entry.action)
        if entry.action.startswith("reconcile."):
            what = "Reconciled: " + entry.action.removeprefix("reconcile.").replace("_", " ")
        if entry.result != "ok":
            what += " — failed"
        detail = entry.error or entry.reason or ""
        entries.append(TimelineEntry(entry.created_at, what, f"{detail} ({entry.actor})", "audit"))
    for event in session.scalars(select(StripeEvent).where(StripeEvent.job_id == job_id)):
        what = EVENT_TEXT.get(event.type, event.type)
        entries.append(TimelineEntry(event.created, what, event.outcome or "", "stripe"))
    for note in session.scalars(select(Notification).where(Notification.job_id == job_id)):
        detail = f"to the {note.recipient_kind}: {note.title}"
        entries.append(TimelineEntry(note.created_at, "Notification", detail, "notification"))
    return sorted(entries, key=lambda entry: entry.at)
