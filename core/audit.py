"""The audit trail: who did what to which job, when, why, with what result; and how an
entry reads to a person (actors by name, changes as "Price: $150.00 → $175.00")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Account, AuditLog, Customer, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.money import format_cents


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    job_id: int | None,
    result: str = "ok",
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    error: str | None = None,
) -> AuditLog:
    entry = AuditLog(
        actor=actor.label,
        action=action,
        job_id=job_id,
        result=result,
        reason=reason,
        before=before,
        after=after,
        error=error,
    )
    session.add(entry)
    return entry


def record_now(sessions: sessionmaker[Session], **fields: Any) -> None:
    """Record in a transaction of its own, e.g. a failure whose work was rolled back."""
    with session_scope(sessions) as session:
        record(session, **fields)


def for_job(session: Session, job_id: int) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.job_id == job_id)
            .order_by(AuditLog.created_at, AuditLog.id)
        )
    )


def search(
    session: Session,
    *,
    job_id: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 500,
) -> list[AuditLog]:
    """Audit entries, newest first; `action` matches a prefix ("reconcile." for all repairs)."""
    query = select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    if job_id is not None:
        query = query.where(AuditLog.job_id == job_id)
    if action:
        query = query.where(AuditLog.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditLog.actor == actor)
    return list(session.scalars(query.limit(max(1, min(limit, 5000)))))


def actors(session: Session) -> list[str]:
    """Every actor label the trail holds, for a filter."""
    return sorted(session.scalars(select(AuditLog.actor).distinct()))


# ---------------------------------------------------------------------------------------
# How an entry reads


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 cent`, `2 cents`, `2 fixes` (with `many` for nouns that do not just take an s)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


ACTION_TEXT = {
    "job.created": "Job created",
    "job.completed": "Marked complete",
    "job.cancelled": "Job cancelled",
    "job.cancelled.stripe": "Invoice voided for a cancelled job",
    "invoice.send": "Invoice sent",
    "invoice.resend": "Invoice sent again",
    "invoice.reissue": "Invoice voided and re-issued",
    "payment.manual": "Payment recorded by hand",
    "payment.manual.stripe": "Stripe told of a payment by hand",
    "payment.attach": "Paid invoice attached to the job",
    "job.refunded": "Refunded to the customer",
    "dashboard.sign_in": "Signed in to the dashboard",
    "dashboard.sign_out": "Signed out of the dashboard",
    "dashboard.session_revoked": "Dashboard session ended",
    "drift.check": "Compared with Stripe",
    "reminder.sent": "Payment reminder sent",
    "reminders.paused": "Payment reminders paused",
    "reminders.resumed": "Payment reminders resumed",
}
RESULT_TEXT = {"ok": "Done", "failed": "Failed", "drift": "Drift found"}
SYSTEM_NAME = "The system (automatic)"
FIELD_TEXT = {
    "job_status": "Job",
    "status": "Status",
    "price": "Price",
    "payment_status": "Payment",
    "payment_amount": "Amount owed",
    "amount": "Amount",
    "amount_due": "Amount due",
    "amount_paid": "Amount paid",
    "method": "Paid through",
    "invoice": "Invoice",
    "invoice_id": "Invoice",
    "hosted_invoice_url": "Payment page",
    "step": "Failed at",
    "ours": "Our records",
    "stripe": "Stripe",
    "done": "Done",
    "customer": "Customer",
    "provider": "Provider",
    "service": "Service",
    "description": "Description",
    "left_to_refund": "Left to refund",
    "provider_earnings": "Provider's earnings",
    "credit_note_id": "Credit note",
}
MONEY_FIELDS = frozenset(
    {
        "price",
        "payment_amount",
        "amount",
        "amount_due",
        "amount_paid",
        # an admin's refund (core.billing.refund_action)
        "paid",
        "refunded",
        "left_to_refund",
        "provider_earnings",
    }
)
VALUE_TEXT = {"stripe": "Stripe", "manual": "by hand (cash or cheque)"}
_WORD = re.compile(r"[a-z]+(_[a-z]+)+")  # an identifier such as `invoice_create`


def describe_action(action: str) -> str:
    if action.startswith("reconcile."):
        return "Reconciled: " + action.removeprefix("reconcile.").replace("_", " ")
    return ACTION_TEXT.get(action, action.replace("_", " ").replace(".", ": "))


def describe_value(field: str, value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field in MONEY_FIELDS and isinstance(value, int):
        return format_cents(value)
    if isinstance(value, str):
        if field in ("method", "status", "job_status", "payment_status"):
            return VALUE_TEXT.get(value, value)
        return value.replace("_", " ") if _WORD.fullmatch(value) else value
    if isinstance(value, Mapping):
        parts = [f"{describe_value('', k)} {describe_value(str(k), v)}" for k, v in value.items()]
        return ", ".join(parts) or "none"
    if isinstance(value, list):
        return ", ".join(describe_value(field, item) for item in value) or "none"
    return str(value)


def describe_change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """An entry's before and after as lines a person reads: "Price: $150.00 → $175.00" for
    what changed, "Invoice: in_123" for what only one side names; unchanged fields are
    left out."""
    before, after = before or {}, after or {}
    lines = []
    for field in dict.fromkeys([*before, *after]):
        label = FIELD_TEXT.get(field, field.replace("_", " ").capitalize())
        if field in before and field in after:
            if before[field] == after[field]:
                continue
            old, new = describe_value(field, before[field]), describe_value(field, after[field])
            lines.append(f"{label}: {old} → {new}")
        else:
            value = before[field] if field in before else after[field]
            lines.append(f"{label}: {describe_value(field, value)}")
    return lines


def as_json(value: Any) -> str:
    """A before or after for a file: JSON (not Python's repr), keys in a stable order."""
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


_NAMED_BY: dict[str, tuple[Any, Any]] = {
    "account": (Account.id, Account.display_name),  # admins and finance staff
    "provider": (ServiceProvider.id, ServiceProvider.name),
    "customer": (Customer.id, Customer.name),
}


def actor_names(session: Session, labels: Iterable[str]) -> dict[str, str]:
    """Each actor label (`admin:7`, `provider:3`, `system`) as the person or firm it names:
    an account's display name, a provider's or a customer's name; a label naming no one
    we know stays as it is."""
    every = set(labels)
    keys: dict[str, tuple[str, int]] = {}
    for label in every:
        role, _, number = label.partition(":")
        kind = "account" if role in ("admin", "finance") else role
        if kind in _NAMED_BY and number.isdigit():
            keys[label] = (kind, int(number))
    found: dict[tuple[str, int], str] = {}
    for kind, (id_column, name_column) in _NAMED_BY.items():
        ids = {number for key_kind, number in keys.values() if key_kind == kind}
        if ids:
            rows = session.execute(select(id_column, name_column).where(id_column.in_(ids)))
            found.update(((kind, row_id), name) for row_id, name in rows)
    names = {label: SYSTEM_NAME if label == "system" else label for label in every}
    names.update((label, found[key]) for label, key in keys.items() if key in found)
    return names


@dataclass(frozen=True)
class ReadableEntry:
    """An audit entry as the admin's audit log shows it."""

    at: datetime
    actor: str  # the label recorded, e.g. admin:7
    who: str  # whom it names
    action: str  # the code recorded, e.g. job.cancelled
    what: str  # the action in words
    job_id: int | None
    reason: str
    result: str
    changes: list[str]
    error: str
    before_json: str
    after_json: str


def readable(session: Session, entries: list[AuditLog]) -> list[ReadableEntry]:
    names = actor_names(session, (e.actor for e in entries))
    return [
        ReadableEntry(
            at=e.created_at,
            actor=e.actor,
            who=names[e.actor],
            action=e.action,
            what=describe_action(e.action),
            job_id=e.job_id,
            reason=e.reason or "",
            result=RESULT_TEXT.get(e.result, e.result),
            changes=describe_change(e.before, e.after),
            error=e.error or "",
            before_json=as_json(e.before),
            after_json=as_json(e.after),
        )
        for e in entries
    ]
