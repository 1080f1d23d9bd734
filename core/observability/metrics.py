"""The process's metrics for Prometheus (prometheus-client), counted where things happen.

Counters and histograms live in the process that counts them. Under several uvicorn
workers each worker is its own process, so with PROMETHEUS_MULTIPROC_DIR set (a folder,
emptied before the workers start) prometheus-client writes every worker's values to files
there and `exposition()` sums them: any worker's `/metrics` answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector

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
INVOICES = Counter(
    f"{PREFIX}_invoices",
    "Invoices of completed jobs: sent, or failed at a step (customer_search, invoice_create, ...)",
    ["step", "result"],
)
EMAILS = Counter(
    f"{PREFIX}_emails",
    "Outbox e-mails handed to the SMTP server (sent), to be tried again (retry), given up (failed)",
    ["result"],
)
REMINDERS = Counter(
    f"{PREFIX}_payment_reminders",
    "Payment reminders of overdue invoices, by what became of each (queued, skipped, ...)",
    ["result"],
)
COUNTED = (
    WEBHOOK_EVENTS,
    WEBHOOK_SECONDS,
    WEBHOOKS_REFUSED,
    STRIPE_CALLS,
    INVOICES,
    EMAILS,
    REMINDERS,
)


def record_webhook(event_type: str, outcome: str, seconds: float) -> None:
    WEBHOOK_EVENTS.labels(type=event_type, outcome=outcome).inc()
    WEBHOOK_SECONDS.observe(seconds)


def record_stripe_call(endpoint: str, status: str) -> None:
    STRIPE_CALLS.labels(endpoint=endpoint, status=status).inc()


def registry(*extra: Collector) -> CollectorRegistry:
    """This process's (or, in multiprocess mode, every worker's) metrics, and those of
    `extra` (core.observability.database_gauges)."""
    found = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(found)  # type: ignore[no-untyped-call]
    else:
        for counted in COUNTED:
            found.register(counted)
    for collector in extra:
        found.register(collector)
    return found


def exposition(*extra: Collector) -> tuple[bytes, str]:
    """The text Prometheus scrapes, and its content type."""
    return generate_latest(registry(*extra)), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "127.0.0.1") -> int:
    """Serve this process's metrics at http://host:port/metrics from a daemon thread (for
    the delivery worker, which has no HTTP server of its own); returns the port it listens
    on, the one the system chose when `port` is 0."""
    server, _thread = start_http_server(port, addr=host, registry=registry())
    return int(server.server_port)
