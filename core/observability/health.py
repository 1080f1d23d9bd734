"""How the system stands, from the database: the e-mail outbox's unsent messages by
status, invoices open in Stripe, the newest webhook and the last reconciliation check. One
reading serves the webhook service's `/readyz`, the gauges Prometheus scrapes
(core.observability.database_gauges) and the dashboard's overview, so all three say the
same. A few indexed counts; no write lock on SQLite (callers pass the reader sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.billing.drift_checks import DriftCheck, last_check
from core.db.models import EMAIL_STATUSES, StripeEvent, StripeInvoice, utcnow
from core.identity.actor import SYSTEM
from core.notify.outbox import count_by_status

# Every status but "sent": the messages still in the outbox's hands. Sent ones only grow
# (millions, in a marketplace a few years old) and counting them on each probe and scrape
# would read them all; the delivery worker counts them as it sends (emails_total).
UNSENT_STATUSES = tuple(status for status in EMAIL_STATUSES if status != "sent")


@dataclass(frozen=True)
class Health:
    now: datetime
    outbox: dict[str, int]  # messages by status, every one of UNSENT_STATUSES
    open_invoices: int
    last_webhook_at: datetime | None
    drift: DriftCheck | None

    @property
    def outbox_backlog(self) -> int:
        """Messages the worker still has to send: queued, or being handed to the SMTP
        server (those held for want of SMTP_URL are `not_configured`, apart)."""
        return self.outbox["queued"] + self.outbox["sending"]

    @property
    def seconds_since_last_webhook(self) -> float | None:
        if self.last_webhook_at is None:
            return None
        return max(0.0, (self.now - self.last_webhook_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        age = self.seconds_since_last_webhook
        return {
            "outbox": {"backlog": self.outbox_backlog, **self.outbox},
            "open_invoices": self.open_invoices,
            "last_webhook_at": self.last_webhook_at.isoformat() if self.last_webhook_at else None,
            "seconds_since_last_webhook": round(age, 1) if age is not None else None,
            "drift_found": self.drift.drifts if self.drift else None,
        }


def read_health(session: Session, now: datetime | None = None) -> Health:
    open_invoices = session.scalar(
        select(func.count())
        .select_from(StripeInvoice)
        .where(StripeInvoice.is_current, StripeInvoice.status == "open")
    )
    return Health(
        now=now or utcnow(),
        outbox=count_by_status(session, UNSENT_STATUSES),
        open_invoices=int(open_invoices or 0),
        last_webhook_at=session.scalar(select(func.max(StripeEvent.received_at))),
        drift=last_check(session, actor=SYSTEM),
    )
