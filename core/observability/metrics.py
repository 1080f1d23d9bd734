"""The process's metrics for Prometheus (prometheus-client), counted where things happen.

Counters and histograms live in the process that counts them. Under several uvicorn
workers each worker is its own process, so with PROMETHEUS_MULTIPROC_DIR set (a folder,
emptied before the workers start) prometheus-client writes every worker's values to files
there and `exposition()` sums them: any worker's `/metrics` answers for all of them.

Figures that are the database's (outbox messages by status, open invoices, the last
webhook's age, drift left by the last check) are read from it at scrape time by
`DatabaseCollector`, so they are the same whichever process is scraped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import EmailMessage, StripeEvent, StripeInvoice, utcnow
from core.db.session import session_scope

PREFIX = "jobtopaid"

WEBHOOK_EVENTS = Counter(
    f"{PREFIX}_webhook_events",
    "Stripe events received, by type and outcome (duplicate, handled, refused, error, ...)",
    ["type", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    f"{PREFIX}_webhook_handling_seconds",
    "Time from a verified delivery to its answer",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WEBHOOKS_REFUSED = Counter(
    f"{PREFIX}_webhook_deliveries_refused",
    "Deliveries answered 400: bad signature or not an event",
)
STRIPE_CALLS = Counter(
    f"{PREFIX}_stripe_api_calls",
    "Calls to Stripe's API by endpoint (our step name) and result",
    ["endpoint", "status"],
)

OUTCOME_ERRORS = frozenset({"error", "failed"})


def record_webhook(event_type: str, outcome: str, seconds: float) -> None:
    WEBHOOK_EVENTS.labels(type=event_type, outcome=outcome).inc()
    WEBHOOK_SECONDS.observe(seconds)


def record_stripe_call(endpoint: str, status: str) -> None:
    STRIPE_CALLS.labels(endpoint=endpoint, status=status).inc()


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
            if last.tzinfo is None:  # SQLite hands back naive UTC
                last = last.replace(tzinfo=UTC)
            age = max(0.0, (utcnow() - last).total_seconds())
            yield GaugeMetricFamily(
                f"{PREFIX}_seconds_since_last_webhook",
                "Seconds since the newest Stripe event was received",
                value=age,
            )


def exposition(readers: sessionmaker[Session] | None) -> tuple[bytes, str]:
    """The text Prometheus scrapes: this process's (or, in multiprocess mode, every
    worker's) metrics, and the database's gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (WEBHOOK_EVENTS, WEBHOOK_SECONDS, WEBHOOKS_REFUSED, STRIPE_CALLS):
            registry.register(collector)
    if readers is not None:
        registry.register(DatabaseCollector(readers))
    return generate_latest(registry), CONTENT_TYPE_LATEST
