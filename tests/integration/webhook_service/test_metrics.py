"""`GET /metrics`: what Prometheus scrapes from the webhook service, counted where things
happen, and summed across worker processes in multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.context import AppContext
from core.db.models import StripeInvoice, utcnow
from core.db.session import session_scope
from tests.support.webhook_events import Billed, billed_job, deliver, invoice_object, stripe_event

ROOT = Path(__file__).resolve().parents[3]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: str, name: str, **labels: str) -> float:
    return samples(scraped).get((name, tuple(sorted(labels.items()))), 0.0)


def test_webhook_events_are_counted_by_type_and_outcome(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    before = http.get("/metrics").text

    deliver(http, event)
    deliver(http, event)
    refused = http.post(
        "/payments/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"}
    )
    response = http.get("/metrics")

    assert refused.status_code == 400
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    name = "jobtopaid_webhook_events_total"
    for outcome in ("applied", "duplicate"):
        grew = value(after, name, type="invoice.paid", outcome=outcome) - value(
            before, name, type="invoice.paid", outcome=outcome
        )
        assert grew == 1, outcome
    handled = "jobtopaid_webhook_handling_seconds_count"
    assert value(after, handled) - value(before, handled) == 2
    refusals = "jobtopaid_webhook_deliveries_refused_total"
    assert value(after, refusals) - value(before, refusals) == 1


def open_copy(billed: Billed) -> StripeInvoice:
    """Our copy of the job's invoice, open and current."""
    return StripeInvoice(
        invoice_id=billed.invoice_id,
        job_id=billed.job_id,
        payment_id=billed.payment_id,
        customer="cus_metrics",
        status="open",
        status_rank=2,
        currency="usd",
        amount_due=billed.amount,
        amount_paid=0,
        amount_remaining=billed.amount,
        created=utcnow(),
        is_current=True,
    )


def test_the_database_gauges_are_read_when_scraped(ctx: AppContext, http: httpx.Client) -> None:
    billed, other = billed_job(ctx), billed_job(ctx)
    assert "jobtopaid_seconds_since_last_webhook" not in http.get("/metrics").text
    deliver(http, stripe_event("invoice.paid", invoice_object(billed)))
    with session_scope(ctx.sessions) as session:
        session.add(open_copy(other))

    after = http.get("/metrics").text

    assert value(after, "jobtopaid_open_invoices") == 1
    assert 0 <= value(after, "jobtopaid_seconds_since_last_webhook") < 3600
    queued = value(after, "jobtopaid_outbox_messages", status="queued")
    assert queued >= 2  # the payment's two e-mails (customer and provider)


WORKER = """
from core.observability import metrics
for _ in range({count}):
    metrics.record_webhook("invoice.paid", "applied", 0.01)
metrics.record_stripe_call("invoice_send", "ok")
"""
SCRAPE = """
from core.observability.metrics import exposition
print(exposition()[0].decode())
"""


def run(code: str, directory: Path) -> str:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_several_worker_processes_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    run(WORKER.format(count=3), tmp_path)
    run(WORKER.format(count=4), tmp_path)

    scraped = run(SCRAPE, tmp_path)  # a third process answers for both

    events = "jobtopaid_webhook_events_total"
    assert value(scraped, events, type="invoice.paid", outcome="applied") == 7
    assert value(scraped, "jobtopaid_webhook_handling_seconds_count") == 7
    calls = "jobtopaid_stripe_api_calls_total"
    assert value(scraped, calls, endpoint="invoice_send", status="ok") == 2
