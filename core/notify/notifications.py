"""Notifications are rows shown in the dashboard; these are their texts and queries. Those
of an e-mailed kind (core.notify.outbox) also queue an e-mail in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from core.db.dml import Precompiled, plain
from core.db.models import Base, Notification, utcnow
from core.money import format_cents
from core.notify.outbox import is_emailed, queue_for_notifications

_NOTIFICATIONS = Base.metadata.tables["notifications"]
_COLUMNS = ("recipient_kind", "recipient_id", "kind", "title", "body", "job_id", "created_at")
_INSERTS: dict[tuple[int, bool], Precompiled] = {}


def _insert_of(count: int, returning: bool) -> Precompiled:
    """INSERT ... VALUES (...), (...) for `count` rows, built once per count: one
    statement (one round trip) whatever the driver does with executemany. Written as
    text with typed parameters, since SQLAlchemy compiles a multi-row `values()` anew on
    every execution. `returning` adds the new ids and kinds, for queueing e-mail."""
    statement = _INSERTS.get((count, returning))
    if statement is None:
        rows = ", ".join(
            "(" + ", ".join(f":n{row}_{name}" for name in _COLUMNS) + ")" for row in range(count)
        )
        sql = text(
            f"INSERT INTO notifications ({', '.join(_COLUMNS)}) VALUES {rows}"
            + (" RETURNING id, kind" if returning else "")
        )
        typed = sql.bindparams(
            *(
                bindparam(f"n{row}_{name}", type_=_NOTIFICATIONS.c[name].type)
                for row in range(count)
                for name in _COLUMNS
            )
        )
        statement = _INSERTS[count, returning] = Precompiled(plain(typed))
    return statement


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
    email: bool = True,
) -> Notification:
    """One notification, and its e-mail when its kind is e-mailed (`email=False` leaves
    that out, for history loaded after the fact, such as the demo's)."""
    notification = Notification(
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        kind=kind,
        title=title,
        body=body,
        job_id=job_id,
    )
    session.add(notification)
    if email and is_emailed(kind):
        session.flush()  # the outbox row names the notification's id
        queue_for_notifications(session, [notification.id], utcnow())
    return notification


def notify_all(session: Session, notes: Sequence[Note]) -> None:
    """Write these notifications in one statement (a plain insert: no objects are loaded),
    and, when any is of an e-mailed kind, their e-mails in one more."""
    if not notes:
        return
    emailed = any(is_emailed(note.kind) for note in notes)
    now = utcnow()
    values: dict[str, Any] = {}
    for row, note in enumerate(notes):
        values.update(
            {
                f"n{row}_recipient_kind": note.recipient_kind,
                f"n{row}_recipient_id": note.recipient_id,
                f"n{row}_kind": note.kind,
                f"n{row}_title": note.title,
                f"n{row}_body": note.body,
                f"n{row}_job_id": note.job_id,
                f"n{row}_created_at": now,
            }
        )
    result = _insert_of(len(notes), emailed).execute(session.connection(), values)
    if emailed:
        written: list[Any] = list(result.all())  # (id, kind) of each new row
        ids = [int(id_) for id_, kind in written if is_emailed(str(kind))]
        queue_for_notifications(session, ids, now)


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
