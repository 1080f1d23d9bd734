"""The calling customer's or provider's notifications: `GET /notifications`, and marking
them read. Admins and finance have none (403); someone else's notification is a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from core.db.models import Notification
from core.db.session import session_scope
from core.notify.inbox import MAX_PAGE, inbox_page, mark_all_read, mark_one_read
from webhook_service.auth import CurrentActor
from webhook_service.deps import ContextDep
from webhook_service.schemas import (
    MarkedReadOut,
    NotificationOut,
    NotificationPageOut,
    error_responses,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])
NotificationId = Path(gt=0, le=2**31 - 1, description="The notification's id")


def notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id,
        kind=notification.kind,
        title=notification.title,
        body=notification.body,
        job_id=notification.job_id,
        created_at=notification.created_at,
        read_at=notification.read_at,
    )


@router.get(
    "",
    response_model=NotificationPageOut,
    summary="Your notifications, newest first (customers and providers)",
    responses=error_responses(401, 403, 422),
)
def list_notifications(
    actor: CurrentActor,
    context: ContextDep,
    unread_only: Annotated[bool, Query(description="Only those not yet read")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> NotificationPageOut:
    with session_scope(context.readers) as session:
        page = inbox_page(session, actor=actor, unread_only=unread_only, limit=limit, cursor=cursor)
        return NotificationPageOut(
            items=[notification_out(n) for n in page.items], next_cursor=page.next_cursor
        )


@router.post(
    "/read-all",
    response_model=MarkedReadOut,
    summary="Mark all your notifications read",
    responses=error_responses(401, 403),
)
def read_all(actor: CurrentActor, context: ContextDep) -> MarkedReadOut:
    with session_scope(context.sessions) as session:
        return MarkedReadOut(marked_read=mark_all_read(session, actor=actor))


@router.post(
    "/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark one of your notifications read (again is fine)",
    responses=error_responses(401, 403, 404, 422),
)
def read_one(
    actor: CurrentActor, context: ContextDep, notification_id: int = NotificationId
) -> NotificationOut:
    with session_scope(context.sessions) as session:
        notification = mark_one_read(session, actor=actor, notification_id=notification_id)
        session.flush()
        return notification_out(notification)
