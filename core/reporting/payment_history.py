"""Payments, newest first, paged with an opaque cursor (keyset: no offsets to drift).

Customers and providers see their own; admins and finance see all, with filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.db.keyset import decode_cursor, encode_cursor
from core.db.models import Job, Payment, Service
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import jobs_visible_to, require


@dataclass(frozen=True)
class HistoryFilter:
    provider_id: int | None = None
    customer_id: int | None = None
    status: str | None = None  # pending, received
    created_from: date | None = None
    created_to: date | None = None


@dataclass(frozen=True)
class HistoryItem:
    payment_id: int
    job_id: int
    amount: int
    status: str
    method: str | None
    marked_at: datetime | None
    created_at: datetime
    job_status: str
    service: str
    customer_id: int
    provider_id: int


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    next_cursor: str | None


def payment_history(
    session: Session,
    *,
    actor: Actor,
    filters: HistoryFilter = HistoryFilter(),
    limit: int = 50,
    cursor: str | None = None,
) -> HistoryPage:
    require(actor, "payments.history")
    if filters.status not in (None, "pending", "received"):
        raise InvalidInput("status is pending or received")
    limit = max(1, min(limit, 200))
    query = (
        select(Payment, Job.status, Job.customer_id, Job.provider_id, Service.name)
        .join(Job, Job.id == Payment.job_id)
        .join(Service, Service.id == Job.service_id)
        .where(jobs_visible_to(actor))
    )
    if filters.provider_id is not None:
        query = query.where(Job.provider_id == filters.provider_id)
    if filters.customer_id is not None:
        query = query.where(Job.customer_id == filters.customer_id)
    if filters.status is not None:
        query = query.where(Payment.status == filters.status)
    if filters.created_from is not None:
        query = query.where(
            Payment.created_at >= datetime.combine(filters.created_from, time(), UTC)
        )
    if filters.created_to is not None and filters.created_to < date.max:
        end = datetime.combine(filters.created_to + timedelta(days=1), time(), UTC)
        query = query.where(Payment.created_at < end)
    if cursor:
        created_at, payment_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Payment.created_at < created_at,
                and_(Payment.created_at == created_at, Payment.id < payment_id),
            )
        )
    rows = session.execute(
        query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit + 1)
    ).all()
    items = [
        HistoryItem(
            p.id,
            p.job_id,
            p.amount,
            p.status,
            p.method,
            p.marked_at,
            p.created_at,
            job_status,
            service,
            customer_id,
            provider_id,
        )
        for p, job_status, customer_id, provider_id, service in rows[:limit]
    ]
    more = len(rows) > limit
    next_cursor = (
        encode_cursor(items[-1].created_at, items[-1].payment_id) if more and items else None
    )
    return HistoryPage(items, next_cursor)
