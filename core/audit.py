"""The audit trail: who did what to which job, when, why, with what result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.auth import Actor
from core.db import session_scope
from core.models import AuditLog


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
