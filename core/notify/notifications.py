"""Notifications are rows shown in the dashboard; these are their texts and queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from core.db.models import Base, Notification, utcnow
from core.money import format_cents

_NOTIFICATIONS = Base.metadata.tables["notifications"]
_INSERT = insert(_NOTIFICATIONS)


@dataclass(frozen=True)
class Note:
    """One notification to write, with `notify_all`."""

    recipient_kind: str
    recipient_id: int
    kind: str
    title: str
    body: str
    job_id: int | None


def notify(
    session: Session,
    *,
    recipient_kind: str,
    recipient_id: int,
    kind: str,
    title: str,
    body: str,
    job_id: int | None,
) -> Notification:
    notification = Notification(
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        kind=kind,
        title=title,
        body=body,
        job_id=job_id,
    )
    session.add(notification)
    return notification


def notify_all(session: Session, notes: Sequence[Note]) -> None:
    """Write these notifications in one statement (a plain insert: no objects are loaded)."""
    if not notes:
        return
    now = utcnow()
    session.connection().execute(
        _INSERT,
        [
            {
                "recipient_kind": note.recipient_kind,
                "recipient_id": note.recipient_id,
                "kind": note.kind,
                "title": note.title,
                "body": note.body,
                "job_id": note.job_id,
                "created_at": now,
            }
            for note in notes
        ],
    )


def payment_confirmed(amount: int, currency: str, service_name: str) -> tuple[str, str]:
    return (
        "Payment Confirmed",
        f"Your payment of {format_cents(amount, currency)} for {service_name} has been "
        "received. Thank you!",
    )


def payment_received(amount: int, currency: str, job_id: int) -> tuple[str, str]:
    return (
        "Payment Received",
        f"Payment of {format_cents(amount, currency)} received for Job #{job_id}",
    )


def payment_failed(
    amount: int, currency: str, service_name: str, url: str | None
) -> tuple[str, str]:
    retry = f" Please try again: {url}" if url else " Please try again from your invoice."
    return (
        "Payment Failed",
        f"Your payment of {format_cents(amount, currency)} for {service_name} did not go "
        f"through.{retry}",
    )


def invoice_waiting(
    amount: int, currency: str, service_name: str, due: datetime | None, url: str | None
) -> tuple[str, str]:
    due_text = f", due {due:%B %d, %Y}" if due else ""
    link = f": {url}" if url else "."
    return (
        "New Invoice",
        f"Your invoice of {format_cents(amount, currency)} for {service_name} is waiting"
        f"{due_text}{link}",
    )


def list_for(
    session: Session, *, recipient_kind: str, recipient_id: int, limit: int = 50
) -> list[Notification]:
    """A recipient's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(
                Notification.recipient_kind == recipient_kind,
                Notification.recipient_id == recipient_id,
            )
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def unread_count(session: Session, *, recipient_kind: str, recipient_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.recipient_kind == recipient_kind,
                Notification.recipient_id == recipient_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def mark_read(
    session: Session, *, recipient_kind: str, recipient_id: int, ids: list[int] | None = None
) -> int:
    """Mark the recipient's notifications (all, or those ids) read; returns how many changed."""
    statement = update(Notification).where(
        Notification.recipient_kind == recipient_kind,
        Notification.recipient_id == recipient_id,
        Notification.read_at.is_(None),
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    result = session.execute(statement.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0))
