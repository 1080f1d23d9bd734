"""The audit trail: who did what to which job, when, why, with what result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import AuditLog
from core.db.session import session_scope
from core.identity.actor import Actor


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
