"""The figures that are the database's, read from it when Prometheus scrapes (a few
indexed counts): outbox messages by status, open invoices, the last webhook's age, and
what the last reconciliation check found. Being the database's, they are the same
whichever process or worker is scraped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.billing.drift_checks import last_check
from core.db.models import EmailMessage, StripeEvent, StripeInvoice, utcnow
from core.db.session import session_scope
from core.identity.actor import SYSTEM
from core.observability.metrics import PREFIX


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped (a few indexed counts)."""

    def __init__(self, readers: sessionmaker[Session]) -> None:
        self.readers = readers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with session_scope(self.readers) as session:
            by_status: dict[str, int] = dict(
                session.execute(
                    select(EmailMessage.status, func.count()).group_by(EmailMessage.status)
                ).all()
            )
            open_invoices = session.scalar(
                select(func.count())
                .select_from(StripeInvoice)
                .where(StripeInvoice.is_current, StripeInvoice.status == "open")
            )
            last: datetime | None = session.scalar(select(func.max(StripeEvent.received_at)))
            drift = last_check(session, actor=SYSTEM)
        outbox = GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "E-mail outbox messages by status", labels=["status"]
        )
        for status in ("queued", "sending", "sent", "failed"):
            outbox.add_metric([status], float(by_status.get(status, 0)))
        yield outbox
        yield GaugeMetricFamily(
            f"{PREFIX}_open_invoices", "Current invoices open in Stripe", value=open_invoices or 0
        )
        if last is not None:
            age = max(0.0, (utcnow() - last).total_seconds())
            yield GaugeMetricFamily(
                f"{PREFIX}_seconds_since_last_webhook",
                "Seconds since the newest Stripe event was received",
                value=age,
            )
        if drift is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_drift_found",
                "Drifts the last reconciliation check found (0: the books match Stripe)",
                value=drift.drifts,
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_drift_checked_timestamp_seconds",
                "When the last reconciliation check ran (Unix time)",
                value=drift.checked_at.timestamp(),
            )
