"""The figures that are the database's, read from it when Prometheus scrapes (a few
indexed counts): outbox messages by status, open invoices, the last webhook's age, and
what the last reconciliation check found. Being the database's, they are the same
whichever process or worker is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from core.db.session import session_scope
from core.observability.health import read_health
from core.observability.metrics import PREFIX


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped (a few indexed counts)."""

    def __init__(self, readers: sessionmaker[Session]) -> None:
        self.readers = readers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with session_scope(self.readers) as session:
            health = read_health(session)
        outbox = GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "E-mail outbox messages by status", labels=["status"]
        )
        for status, count in health.outbox.items():
            outbox.add_metric([status], float(count))
        yield outbox
        yield GaugeMetricFamily(
            f"{PREFIX}_open_invoices", "Current invoices open in Stripe", value=health.open_invoices
        )
        age = health.seconds_since_last_webhook
        if age is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_seconds_since_last_webhook",
                "Seconds since the newest Stripe event was received",
                value=age,
            )
        drift = health.drift
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
