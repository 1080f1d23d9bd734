"""The outcome of each reconciliation check, kept in the audit log.

A drift report reads every invoice from Stripe, far too slow for a page that refreshes
itself, so pages show the count of the last check that ran (from the CLI, the cron job or
the dashboard) together with when it ran and how far back it looked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actor_names, record_now
from core.billing.reconcile import DriftReport, drift_report
from core.context import AppContext
from core.db.models import AuditLog
from core.identity.actor import Actor
from core.identity.permissions import require

CHECK_ACTION = "drift.check"


@dataclass(frozen=True)
class DriftCheck:
    checked_at: datetime
    drifts: int
    jobs_checked: int
    since: datetime | None  # jobs completed since then were compared; None: every job
    by: str  # who ran it, by name


def record_check(ctx: AppContext, report: DriftReport, *, actor: Actor) -> None:
    """Keep the report's outcome, in a transaction of its own (the report read Stripe)."""
    record_now(
        ctx.sessions,
        actor=actor,
        action=CHECK_ACTION,
        job_id=None,
        result="ok" if not report.drifts else "drift",
        after={
            "drifts": len(report.drifts),
            "jobs_checked": report.jobs_checked,
            "invoices_read": report.invoices_read,
            "refunds_read": report.refunds_read,
            "disputes_read": report.disputes_read,
            "since": report.since.isoformat() if report.since else None,
            "kinds": dict(Counter(d.kind for d in report.drifts)),
        },
    )


def check(ctx: AppContext, *, actor: Actor, since: datetime | None = None) -> DriftReport:
    """Compare with Stripe now, and keep the outcome for `last_check`."""
    report = drift_report(ctx, actor=actor, since=since)
    record_check(ctx, report, actor=actor)
    return report


def last_check(session: Session, *, actor: Actor) -> DriftCheck | None:
    """The newest recorded check, or None when none ran yet."""
    require(actor, "reconcile")
    entry = session.scalar(
        select(AuditLog)
        .where(AuditLog.action == CHECK_ACTION)
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    if entry is None:
        return None
    after = entry.after or {}
    since = after.get("since")
    return DriftCheck(
        checked_at=entry.created_at,
        drifts=int(after.get("drifts", 0)),
        jobs_checked=int(after.get("jobs_checked", 0)),
        since=datetime.fromisoformat(since) if since else None,
        by=actor_names(session, [entry.actor])[entry.actor],
    )
