"""The logs an operator reads: with LOG_FORMAT=json every line is one JSON object, a webhook's
line carries the event's id and type, the job's id, the outcome, the duration and the
request's id (the one the answer's X-Request-ID gives back); and across a whole flow (a job
invoiced through the sandbox, paid, its webhooks delivered, deliveries refused, an
invoicing step failing) no secret, token, signature or password is ever written."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope
from core.identity.actor import SYSTEM
from core.identity.api_tokens import issue_token
from core.jobs.lifecycle import complete_job
from core.observability import logs
from stripe_sandbox.webhooks import sign
from tests.conftest import TEST_STRIPE_KEY, LiveService
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl
from tests.support.webhook_events import WEBHOOK, stripe_event

REQUEST_ID = "req-from-the-load-balancer-42"
DB_PASSWORD = "hunter2-database"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every line this process logs while the test runs, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    out = logs.handler("json", stream)
    root = logging.getLogger()
    root.addHandler(out)
    levels = {name: logging.getLogger(name).level for name in ("core", "webhook_service")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(out)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def paid_job(ctx: AppContext, sandbox: SandboxControl) -> int:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
    result = complete_job(ctx, job_id=job_id, actor=SYSTEM)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0
    return job_id


def test_a_flow_and_its_errors_log_one_json_object_a_line_and_no_secret(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, captured: io.StringIO
) -> None:
    job_id = paid_job(ctx, sandbox)
    signatures: list[str] = []
    with session_scope(ctx.sessions) as session:
        provider_id = session.scalars(select(Job.provider_id).where(Job.id == job_id)).one()
    earnings = f"/payments/provider/{provider_id}/earnings"
    token = issue_token(ctx.settings, role="admin", subject_id=None, ttl=timedelta(minutes=5))

    with httpx.Client(base_url=live_service.base, timeout=30) as http:
        # An event of our own, sent with the load balancer's request id.
        event = stripe_event("customer.created", {"id": "cus_x", "object": "customer"})
        payload = json.dumps(event)
        signature = sign(payload, live_service.secret, int(event["created"]))
        signatures.append(signature)
        answer = http.post(
            WEBHOOK,
            content=payload,
            headers={"Stripe-Signature": signature, "X-Request-ID": REQUEST_ID},
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"] == REQUEST_ID
        mine = http.post(WEBHOOK, content=payload, headers={"Stripe-Signature": signature})
        assert len(mine.headers["x-request-id"]) == 32  # one of ours, for a caller without
        # Refused: a bad signature, a signed body that is no event, a wrong token.
        http.post(WEBHOOK, content=payload, headers={"Stripe-Signature": "t=1,v1=" + "ab" * 32})
        junk = b'{"not": "an event"}'
        junk_signature = sign(junk.decode(), live_service.secret, int(time.time()))
        signatures.append(junk_signature)
        assert http.post(
            WEBHOOK, content=junk, headers={"Stripe-Signature": junk_signature}
        ).is_error
        assert http.get(earnings, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        assert http.get(earnings, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    # An invoicing step that fails, in Stripe's words.
    sandbox.fault("/v1/invoices", method="POST", status=500, count=10)
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        failing = new_job(session, customer, provider, service).id
    assert complete_job(ctx, job_id=failing, actor=SYSTEM).invoice is None
    # And a line that names secrets outright, as careless code might.
    logging.getLogger("core.test").error(
        "connecting to postgresql://app:%s@db/app with %s",
        DB_PASSWORD,
        TEST_STRIPE_KEY,
        extra={"webhook_secret": live_service.secret, "detail": f"Bearer {token}"},
    )

    found = lines(captured)

    def one(**fields: Any) -> dict[str, Any]:
        """The first line with these fields (the lines' events are told if none has)."""
        for line in found:
            if all(line.get(k) == v for k, v in fields.items()):
                return line
        seen = [(line.get("logger"), line.get("event"), line.get("event_type")) for line in found]
        pytest.fail(f"no line with {fields} among {seen}")

    assert all({"time", "level", "logger", "event"} <= set(line) for line in found)
    # invoice.paid or invoice.payment_succeeded, whichever came first, applied the payment.
    paid = one(event="stripe.webhook.processed", job_id=job_id, outcome="applied")
    assert paid["event_type"] in ("invoice.paid", "invoice.payment_succeeded")
    assert isinstance(paid["duration_ms"], float) and paid["request_id"]
    assert paid["event_id"].startswith("evt_")
    assert one(event="stripe.webhook.processed", event_id=event["id"])["request_id"] == REQUEST_ID
    one(event="stripe.webhook.not_an_event")
    assert one(event="invoice.failed", job_id=failing)["level"] == "WARNING"
    assert one(logger="core.test")["webhook_secret"] == "[redacted]"

    text = captured.getvalue()
    secrets = [
        TEST_STRIPE_KEY,
        live_service.secret,
        token,
        DB_PASSWORD,
        *(part.partition("=")[2] for s in signatures for part in s.split(",")[1:]),
    ]
    assert len(signatures) == 2 and all(secrets)
    assert [s for s in secrets if s in text] == []
