"""A customer's or provider's own notifications, as the REST API serves them: paged newest
first with an opaque cursor (keyset, so marking rows read while paging skips nothing), and
marked read one by one or all at once.

Only the actor's own rows are reachable: the recipient is the actor, never a parameter, and
someone else's notification is "not found", as for a job."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core import audit
from core.db.keyset import decode_cursor, encode_cursor
from core.db.models import Notification, utcnow
from core.errors import NotFound
from core.identity.actor import Actor
from core.identity.permissions import require

MAX_PAGE = 100


@dataclass(frozen=True)
class InboxPage:
    items: list[Notification]
    next_cursor: str | None


def _recipient(actor: Actor) -> tuple[str, int]:
    require(actor, "notifications.read")
    assert actor.id is not None, "a customer's or provider's actor names them"
    return actor.role, actor.id


def inbox_page(
    session: Session,
    *,
    actor: Actor,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> InboxPage:
    kind, recipient_id = _recipient(actor)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Notification).where(
        Notification.recipient_kind == kind, Notification.recipient_id == recipient_id
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if cursor:
        created_at, notification_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Notification.created_at < created_at,
                and_(Notification.created_at == created_at, Notification.id < notification_id),
            )
        )
    rows = list(
        session.scalars(
            query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit + 1)
        )
    )
    items = rows[:limit]
    more = len(rows) > limit
    return InboxPage(items, encode_cursor(items[-1].created_at, items[-1].id) if more else None)


def mark_one_read(session: Session, *, actor: Actor, notification_id: int) -> Notification:
    """The notification, read (marking it again changes nothing and is not an error)."""
    kind, recipient_id = _recipient(actor)
    notification = session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.recipient_kind == kind,
            Notification.recipient_id == recipient_id,
        )
    )
    if notification is None:
        raise NotFound(f"No notification #{notification_id}")
    if notification.read_at is None:
        # Conditional, so that of two calls at once only one marks it and is audited.
        marked = session.execute(
            update(Notification)
            .where(Notification.id == notification.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        session.refresh(notification)
        if not getattr(marked, "rowcount", 0):
            return notification
        audit.record(
            session,
            actor=actor,
            action="notification.read",
            job_id=notification.job_id,
            after={"notification_id": notification.id},
        )
    return notification


def mark_all_read(session: Session, *, actor: Actor) -> int:
    """Every unread notification of the actor's, read; returns how many were unread."""
    kind, recipient_id = _recipient(actor)
    result = session.execute(
        update(Notification)
        .where(
            Notification.recipient_kind == kind,
            Notification.recipient_id == recipient_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    marked = int(getattr(result, "rowcount", 0))
    if marked:
        audit.record(
            session,
            actor=actor,
            action="notification.read_all",
            job_id=None,
            after={"marked_read": marked},
        )
    return marked
