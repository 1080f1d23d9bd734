"""The e-mail outbox as admins watch it: how many messages are in each status, which are
failed or still waiting, and putting failed ones back in the queue. Also a job's messages,
for its timeline.

A retried message keeps its attempts: the count is its history, and the worker
(core.notify.delivery) tries it once more now, then fails it again if the same
permanent fault or the attempt limit stands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core.db.models import EmailMessage, utcnow
from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.notify.outbox import count_by_status

# Messages not yet delivered and not given up on: the worker will still try them.
PENDING_STATUSES = ("queued", "sending", "not_configured")
Listed = Literal["failed", "pending"]
MAX_LIST = 500
MAX_RETRY = 1000


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    to_address: str
    job_id: int | None
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class JobMessage:
    """One e-mail about a job, as its timeline shows it."""

    kind: str
    to_address: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    id: int = 0
    created_at: datetime | None = None  # when it was queued


def outbox_summary(session: Session, *, actor: Actor) -> dict[str, int]:
    """How many messages are in each status, every status named (0 when none)."""
    require(actor, "outbox.manage")
    return count_by_status(session)


def list_messages(
    session: Session, *, actor: Actor, status: Listed, limit: int = 200
) -> list[OutboxMessage]:
    """The failed messages, newest first, or the pending ones, next due first."""
    require(actor, "outbox.manage")
    if status not in ("failed", "pending"):
        raise InvalidInput("status is failed or pending")
    query = select(EmailMessage)
    if status == "failed":
        query = query.where(EmailMessage.status == "failed").order_by(
            EmailMessage.created_at.desc(), EmailMessage.id.desc()
        )
    else:
        query = query.where(EmailMessage.status.in_(PENDING_STATUSES)).order_by(
            EmailMessage.next_attempt_at, EmailMessage.id
        )
    rows = session.scalars(query.limit(max(1, min(limit, MAX_LIST))))
    return [
        OutboxMessage(
            id=m.id,
            kind=m.kind,
            to_address=m.to_address,
            job_id=m.job_id,
            status=m.status,
            attempts=m.attempts,
            last_error=m.last_error,
            next_attempt_at=m.next_attempt_at,
            created_at=m.created_at,
        )
        for m in rows
    ]


def failed_ids(session: Session, *, actor: Actor) -> list[int]:
    """Every failed message's id (up to what one retry takes), for "retry all failed"."""
    require(actor, "outbox.manage")
    return list(
        session.scalars(
            select(EmailMessage.id)
            .where(EmailMessage.status == "failed")
            .order_by(EmailMessage.id)
            .limit(MAX_RETRY)
        )
    )


def retry(
    session: Session,
    message_ids: Sequence[int],
    *,
    actor: Actor,
    now: datetime | None = None,
) -> list[int]:
    """Put these failed messages back in the queue, due now; returns the ids that were
    failed (an id no longer failed, or unknown, is left as it is: retrying twice is
    harmless). One audit row per message, in this transaction."""
    require(actor, "outbox.manage")
    ids = sorted(set(message_ids))
    if not ids:
        raise InvalidInput("Choose at least one failed message to retry")
    if len(ids) > MAX_RETRY:
        raise InvalidInput(f"Retry at most {MAX_RETRY} messages at a time")
    now = now or utcnow()
    rows = session.execute(
        update(EmailMessage)
        .where(EmailMessage.id.in_(ids), EmailMessage.status == "failed")
        .values(status="queued", next_attempt_at=now, lease_until=None)
        .returning(EmailMessage.id, EmailMessage.job_id, EmailMessage.last_error)
    ).all()
    for row in sorted(rows):
        audit.record(
            session,
            actor=actor,
            action="email.retry",
            job_id=row.job_id,
            before={"email_id": row.id, "status": "failed", "last_error": row.last_error},
            after={"email_id": row.id, "status": "queued"},
        )
    return sorted(row.id for row in rows)


def messages_for_job(session: Session, job_id: int) -> list[JobMessage]:
    """Every e-mail about the job, oldest first. The caller has checked that its actor
    may see the job (core.identity.permissions.load_job)."""
    rows = session.scalars(
        select(EmailMessage)
        .where(EmailMessage.job_id == job_id)
        .order_by(EmailMessage.created_at, EmailMessage.id)
    )
    return [
        JobMessage(
            m.kind, m.to_address, m.status, m.attempts, m.last_error, m.sent_at, m.id, m.created_at
        )
        for m in rows
    ]
