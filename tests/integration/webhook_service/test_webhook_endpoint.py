"""`POST /payments/stripe/webhook` over HTTP, with events built and signed here as Stripe signs.

The service runs for real (uvicorn in a thread, or two uvicorn processes) against a
migrated database; the events are the JSON Stripe sends, signed with the endpoint's
secret. Nothing of Stripe is mocked: the only stand-in is a database failure.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import core.billing.webhooks
from core.billing.stripe_objects import EventInfo
from core.config import Settings
from core.context import AppContext
from core.db.models import EmailMessage, Job, Notification, StripeInvoice
from core.db.session import session_scope
from core.money import format_cents
from tests.support.sandbox import SandboxControl
from tests.support.service import service_in_thread, service_process
from tests.support.webhook_events import (
    ALIAS,
    PAID_NOTIFICATIONS,
    SECRET,
    WEBHOOK,
    Billed,
    assert_error_body,
    assert_money_adds_up,
    assert_paid_once,
    assert_untouched,
    billed_job,
    deliver,
    event_outcomes,
    event_rows,
    invoice_object,
    outcome_of,
    post_concurrently,
    signed,
    snapshot,
    stripe_event,
)

ONE_MIB = 1024 * 1024


# Exactly once


@pytest.mark.parametrize("path", [WEBHOOK, ALIAS])
def test_invoice_paid_marks_the_job_paid_credits_the_provider_and_notifies_both(
    ctx: AppContext, http: httpx.Client, path: str
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))

    response = deliver(http, event, path)

    assert response.json() == {"received": True, "event_id": event["id"], "outcome": "applied"}
    assert_paid_once(ctx, billed)
    row = event_rows(ctx)[event["id"]]
    assert (row.type, row.outcome, row.error, row.object_id) == (
        "invoice.paid",
        "applied",
        None,
        billed.invoice_id,
    )
    assert (row.job_id, row.payment_id) == (billed.job_id, billed.payment_id)
    assert row.handled_at is not None


def test_the_same_event_delivered_five_times_is_applied_once(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))

    outcomes = [outcome_of(deliver(http, event, (WEBHOOK, ALIAS)[n % 2])) for n in range(5)]

    assert outcomes == ["applied", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert_paid_once(ctx, billed)
    assert event_outcomes(ctx) == {event["id"]: "applied"}


@pytest.mark.parametrize(
    "first, second",
    [("invoice.paid", "invoice.payment_succeeded"), ("invoice.payment_succeeded", "invoice.paid")],
)
def test_paid_and_payment_succeeded_for_one_invoice_apply_once(
    ctx: AppContext, http: httpx.Client, first: str, second: str
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    earlier, later = stripe_event(first, obj), stripe_event(second, obj)

    assert outcome_of(deliver(http, earlier)) == "applied"
    assert outcome_of(deliver(http, later)) == "already_applied"
    assert outcome_of(deliver(http, later)) == "duplicate"

    assert_paid_once(ctx, billed)
    assert event_outcomes(ctx) == {earlier["id"]: "applied", later["id"]: "already_applied"}


# Never backwards


def test_sent_and_failed_arriving_after_paid_notify_nobody_and_change_nothing(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    created = int(time.time()) - 300
    finalized = stripe_event(
        "invoice.finalized", invoice_object(billed, status="open"), created=created
    )
    sent = stripe_event("invoice.sent", invoice_object(billed, status="open"), created=created + 1)
    failed = stripe_event(
        "invoice.payment_failed", invoice_object(billed, status="open"), created=created + 60
    )
    paid = stripe_event("invoice.paid", invoice_object(billed), created=created + 120)

    assert outcome_of(deliver(http, paid)) == "applied"
    after_payment = snapshot(ctx, billed)
    assert outcome_of(deliver(http, sent)) == "ignored_already_paid"
    assert outcome_of(deliver(http, failed)) == "ignored_already_paid"
    assert outcome_of(deliver(http, finalized)) == "recorded"

    assert snapshot(ctx, billed) == after_payment
    assert_paid_once(ctx, billed)
    with session_scope(ctx.sessions) as session:
        mirrored = session.get(StripeInvoice, billed.invoice_id)
        assert mirrored is not None and mirrored.status == "paid"  # the copy never goes back
    assert event_outcomes(ctx) == {
        paid["id"]: "applied",
        sent["id"]: "ignored_already_paid",
        failed["id"]: "ignored_already_paid",
        finalized["id"]: "recorded",
    }


def test_sent_and_failed_for_a_cancelled_job_tell_nobody(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    with session_scope(ctx.sessions) as session:
        session.execute(update(Job).where(Job.id == billed.job_id).values(status="cancelled"))
    sent = stripe_event("invoice.sent", invoice_object(billed, status="open"))
    failed = stripe_event("invoice.payment_failed", invoice_object(billed, status="open"))

    assert outcome_of(deliver(http, sent)) == "ignored_job_cancelled"
    assert outcome_of(deliver(http, failed)) == "ignored_job_cancelled"

    with session_scope(ctx.sessions) as session:
        told = session.scalars(select(Notification).where(Notification.job_id == billed.job_id))
        assert list(told) == []


def test_sent_and_failed_before_payment_tell_the_customer_and_leave_it_pending(
    ctx: AppContext, http: httpx.Client
) -> None:
    """The counterpart of the test above: in order, these events do notify."""
    billed = billed_job(ctx)
    sent = stripe_event("invoice.sent", invoice_object(billed, status="open"))
    failed = stripe_event("invoice.payment_failed", invoice_object(billed, status="open"))

    assert outcome_of(deliver(http, sent)) == "customer_notified"
    assert outcome_of(deliver(http, failed)) == "customer_notified"

    state = snapshot(ctx, billed)
    assert (state.payment_status, state.job_status, state.earnings) == ("pending", "completed", 0)
    assert state.notifications == (("customer", "invoice_sent"), ("customer", "payment_failed"))
    with session_scope(ctx.sessions) as session:
        body = session.scalars(
            select(Notification.body).where(Notification.kind == "payment_failed")
        ).one()
    assert billed.invoice_id in body  # the link to pay again

    assert outcome_of(deliver(http, stripe_event("invoice.paid", invoice_object(billed)))) == (
        "applied"
    )
    state = snapshot(ctx, billed)
    assert (state.payment_status, state.job_status, state.earnings) == (
        "received",
        "paid",
        billed.amount,
    )
    assert state.notifications == tuple(
        sorted([("customer", "invoice_sent"), ("customer", "payment_failed"), *PAID_NOTIFICATIONS])
    )
    assert_money_adds_up(ctx)


# Concurrency


def test_concurrent_copies_and_concurrent_paid_events_apply_once(
    ctx: AppContext, service: str
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    same = stripe_event("invoice.paid", obj)
    distinct = [
        stripe_event(("invoice.paid", "invoice.payment_succeeded")[n % 2], obj) for n in range(10)
    ]
    url = f"{service}{WEBHOOK}"

    responses = post_concurrently([(url, same)] * 20 + [(url, event) for event in distinct])

    outcomes = [outcome_of(response) for response in responses]
    assert Counter(outcomes)["applied"] == 1, outcomes
    assert set(outcomes) <= {"applied", "already_applied", "duplicate"}
    copies = outcomes[:20]
    assert len([o for o in copies if o != "duplicate"]) == 1, copies  # one copy did the work
    assert set(outcomes[20:]) <= {"applied", "already_applied"}  # each is its own event
    assert_paid_once(ctx, billed)
    recorded = event_outcomes(ctx)
    assert len(recorded) == 11
    assert Counter(recorded.values()) == Counter({"applied": 1, "already_applied": 10})


def test_two_service_processes_on_one_database_apply_concurrent_events_once(
    ctx: AppContext, sandbox: SandboxControl
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    paid = stripe_event("invoice.paid", obj)
    succeeded = stripe_event("invoice.payment_succeeded", obj)

    with ExitStack() as stack:
        bases = [
            stack.enter_context(service_process(ctx.settings.database_url, SECRET, sandbox.base))
            for _ in range(2)
        ]
        # Each event goes to both processes, several times, all at once.
        deliveries = [
            (f"{bases[n % 2]}{WEBHOOK}", (paid, succeeded)[n // 2 % 2]) for n in range(16)
        ]
        responses = post_concurrently(deliveries)

    outcomes = [outcome_of(response) for response in responses]
    assert Counter(outcomes)["applied"] == 1, outcomes
    for event in (paid, succeeded):
        answers = [o for (_, sent), o in zip(deliveries, outcomes, strict=True) if sent is event]
        assert len(answers) == 8
        assert len([o for o in answers if o != "duplicate"]) == 1, answers
    assert_paid_once(ctx, billed)
    assert sorted(str(o) for o in event_outcomes(ctx).values()) == ["already_applied", "applied"]


# Bad input changes nothing


def tampered(payload: str) -> tuple[str, dict[str, str]]:
    return payload, signed(payload.replace('"amount_paid": 15000', '"amount_paid": 1'))


def wrong_secret(payload: str) -> tuple[str, dict[str, str]]:
    return payload, signed(payload, secret="whsec_someone_elses_endpoint")


def missing_header(payload: str) -> tuple[str, dict[str, str]]:
    return payload, {"Content-Type": "application/json"}


def garbled_header(payload: str) -> tuple[str, dict[str, str]]:
    return payload, {"Content-Type": "application/json", "Stripe-Signature": "v1=,t=soon"}


def stale(payload: str) -> tuple[str, dict[str, str]]:
    return payload, signed(payload, timestamp=int(time.time()) - 301)


def malformed_json(payload: str) -> tuple[str, dict[str, str]]:
    broken = payload[: len(payload) // 2]  # cut off mid-document, then signed as it is
    return broken, signed(broken)


@pytest.mark.parametrize(
    "make",
    [tampered, wrong_secret, missing_header, garbled_header, stale, malformed_json],
    ids=lambda make: make.__name__,
)
def test_bad_requests_get_a_400_error_body_and_change_nothing(
    ctx: AppContext, http: httpx.Client, make: Callable[[str], tuple[str, dict[str, str]]]
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    payload, headers = make(json.dumps(event, indent=2))

    for path in (WEBHOOK, ALIAS):
        assert_error_body(http.post(path, content=payload, headers=headers), 400, "invalid_webhook")

    assert event_rows(ctx) == {}
    assert_untouched(ctx, billed)
    # The very same event, properly signed, is applied: only the request was wrong.
    assert outcome_of(deliver(http, event)) == "applied"
    assert_paid_once(ctx, billed)


def test_a_timestamp_within_300_seconds_is_accepted(ctx: AppContext, http: httpx.Client) -> None:
    billed = billed_job(ctx)
    payload = json.dumps(stripe_event("invoice.paid", invoice_object(billed)))

    response = http.post(
        WEBHOOK, content=payload, headers=signed(payload, timestamp=int(time.time()) - 240)
    )

    assert outcome_of(response) == "applied"
    assert_paid_once(ctx, billed)


def test_signed_json_that_is_not_an_event_gets_a_400_and_changes_nothing(
    ctx: AppContext, sandbox: SandboxControl
) -> None:
    """Invariant 7: bad input is a 4xx; a 5xx would have Stripe retry what cannot succeed."""
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    bodies: dict[str, Any] = {
        "json_array": [event],
        "event_without_data": {key: value for key, value in event.items() if key != "data"},
        "event_without_type": {key: value for key, value in event.items() if key != "type"},
    }

    # A service process of its own: a request that crashes the app must not share this
    # interpreter with pytest while both format tracebacks.
    answers: dict[str, tuple[int, Any]] = {}
    with service_process(ctx.settings.database_url, SECRET, sandbox.base) as base:
        for shape, body in bodies.items():
            payload = json.dumps(body)
            with httpx.Client(base_url=base, timeout=30) as client:  # a fresh connection each
                response = client.post(WEBHOOK, content=payload, headers=signed(payload))
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text
            answers[shape] = (response.status_code, answer)

    assert {shape: status for shape, (status, _) in answers.items()} == dict.fromkeys(
        bodies, 400
    ), answers
    for _, answer in answers.values():
        assert answer["error"]["code"] == "invalid_webhook", answer
    assert event_rows(ctx) == {}
    assert_untouched(ctx, billed)


def padded_event(billed: Billed, size: int) -> str:
    """An invoice.paid event whose JSON is exactly `size` bytes (a long description)."""
    obj = invoice_object(billed)
    obj["description"] = ""
    event = stripe_event("invoice.paid", obj)
    obj["description"] = "x" * (size - len(json.dumps(event).encode()))
    payload = json.dumps(event)
    assert len(payload.encode()) == size
    return payload


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
def test_a_body_over_1_mib_is_refused_with_413_and_changes_nothing(
    ctx: AppContext, http: httpx.Client, chunked: bool
) -> None:
    billed = billed_job(ctx)
    payload = padded_event(billed, ONE_MIB + 1)
    raw = payload.encode()

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    response = http.post(WEBHOOK, content=pieces() if chunked else raw, headers=signed(payload))

    assert_error_body(response, 413, "payload_too_large")
    assert event_rows(ctx) == {}
    assert_untouched(ctx, billed)


def test_a_sender_that_hangs_up_mid_body_is_let_go_quietly(
    ctx: AppContext, service: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stripe gives up on a slow answer and closes the connection: no traceback, nothing
    recorded, the event comes again."""
    caplog.set_level(logging.INFO)
    billed = billed_job(ctx)
    payload = json.dumps(stripe_event("invoice.paid", invoice_object(billed))).encode()
    address = httpx.URL(service)
    host, port = str(address.host), int(address.port or 80)
    head = (
        f"POST {address.path}{WEBHOOK} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=10) as sender:
        sender.sendall(head + payload[: len(payload) // 2])
    deadline = time.monotonic() + 10
    while not any(r.getMessage() == "stripe.webhook.sender_gone" for r in caplog.records):
        assert time.monotonic() < deadline, "the service never noticed the sender had gone"
        time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert event_rows(ctx) == {}
    assert_untouched(ctx, billed)


def test_a_body_of_exactly_1_mib_is_accepted(ctx: AppContext, http: httpx.Client) -> None:
    billed = billed_job(ctx)
    payload = padded_event(billed, ONE_MIB)

    assert outcome_of(http.post(WEBHOOK, content=payload, headers=signed(payload))) == "applied"
    assert_paid_once(ctx, billed)


# Events that are not ours, not right, or not handled


ORPHAN_METADATA: dict[str, Callable[[Billed], dict[str, str] | None]] = {
    "job_that_does_not_exist": lambda b: {"job_id": str(b.job_id + 1000), "payment_id": "1"},
    "empty_metadata": lambda b: {},
    "no_metadata_field": lambda b: None,
    "payment_of_another_job": lambda b: {
        "job_id": str(b.job_id),
        "payment_id": str(b.payment_id + 1000),
    },
    "job_id_not_a_number": lambda b: {"job_id": "J-42"},
}


@pytest.mark.parametrize("case", list(ORPHAN_METADATA))
def test_an_event_naming_no_job_of_ours_is_recorded_as_orphan(
    ctx: AppContext, http: httpx.Client, case: str
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    metadata = ORPHAN_METADATA[case](billed)
    if metadata is None:
        del obj["metadata"]
    else:
        obj["metadata"] = metadata
    event = stripe_event("invoice.paid", obj)

    assert outcome_of(deliver(http, event)) == "orphan"

    row = event_rows(ctx)[event["id"]]
    assert (row.outcome, row.type, row.object_id, row.error) == (
        "orphan",
        "invoice.paid",
        billed.invoice_id,
        None,
    )
    assert row.handled_at is not None and row.detail
    expected_job = (metadata or {}).get("job_id")
    assert row.job_id == (int(expected_job) if expected_job and expected_job.isdigit() else None)
    assert_untouched(ctx, billed)
    assert outcome_of(deliver(http, event)) == "duplicate"


@pytest.mark.parametrize("difference", [-1, 500])
def test_an_amount_that_differs_from_the_bill_is_flagged_and_not_credited(
    ctx: AppContext, http: httpx.Client, difference: int
) -> None:
    billed = billed_job(ctx)
    amount_paid = billed.amount + difference
    event = stripe_event("invoice.paid", invoice_object(billed, amount_paid=amount_paid))

    assert outcome_of(deliver(http, event)) == "amount_mismatch"

    row = event_rows(ctx)[event["id"]]
    assert row.outcome == "amount_mismatch"
    assert row.detail is not None
    assert format_cents(amount_paid, "usd") in row.detail
    assert format_cents(billed.amount, "usd") in row.detail
    assert_untouched(ctx, billed)


@pytest.mark.parametrize("event_type", ["customer.created", "invoice.created", "invoice.updated"])
def test_an_event_type_without_a_handler_is_ignored(
    ctx: AppContext, http: httpx.Client, event_type: str
) -> None:
    billed = billed_job(ctx)
    if event_type == "customer.created":
        obj: dict[str, Any] = {
            "id": "cus_test",
            "object": "customer",
            "email": "ann@example.com",
            "metadata": {"user_id": str(billed.customer_id)},
        }
    else:
        obj = invoice_object(billed, status="draft")
    event = stripe_event(event_type, obj)

    assert outcome_of(deliver(http, event)) == "ignored"

    assert event_outcomes(ctx) == {event["id"]: "ignored"}
    assert_untouched(ctx, billed)


# Health


def test_healthz_and_readyz_answer_200_with_the_database_up(
    ctx: AppContext, http: httpx.Client
) -> None:
    live = http.get("/healthz")
    ready = http.get("/readyz")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (
        200,
        {
            "status": "ready",
            "database": ctx.engine.dialect.name,
            "outbox": {
                "backlog": 0,
                "queued": 0,
                "sending": 0,
                "failed": 0,
                "not_configured": 0,
            },
            "open_invoices": 0,
            "last_webhook_at": None,
            "seconds_since_last_webhook": None,
            "drift_found": None,
        },
    )


def test_readyz_reports_the_outbox_backlog_and_the_last_webhooks_age(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    paid = stripe_event("invoice.paid", invoice_object(billed))
    assert outcome_of(deliver(http, paid)) == "applied"
    with session_scope(ctx.sessions) as session:
        queued = session.scalars(select(EmailMessage.id).where(EmailMessage.status == "queued"))
        ids = list(queued)

    ready = http.get("/readyz").json()
    assert len(ids) >= 2  # the payment told the customer and the provider
    assert ready["outbox"]["backlog"] == len(ids)
    assert ready["outbox"]["queued"] == len(ids)
    assert ready["last_webhook_at"] is not None
    assert 0 <= ready["seconds_since_last_webhook"] < 60

    with session_scope(ctx.sessions) as session:  # one goes out, one is given up
        session.execute(update(EmailMessage).where(EmailMessage.id == ids[0]).values(status="sent"))
        session.execute(
            update(EmailMessage).where(EmailMessage.id == ids[1]).values(status="failed")
        )
    outbox = http.get("/readyz").json()["outbox"]
    # Sent messages leave the reading: the worker counts them (emails_total).
    assert (outbox["backlog"], outbox["failed"], "sent" in outbox) == (len(ids) - 2, 1, False)


def test_readyz_stays_ready_when_a_figure_cannot_be_read(
    ctx: AppContext, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(session: Session) -> None:
        raise ValueError("a drift check row of an older shape")

    monkeypatch.setattr("webhook_service.routes.health.read_health", unreadable)
    ready = http.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        200,
        {
            "status": "ready",
            "database": ctx.engine.dialect.name,
            "figures": "unreadable; see the service's log",
        },
    )


def test_readyz_answers_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path}",  # a directory: no database can be opened there
        stripe_webhook_secret=SecretStr(SECRET),
        stripe_api_base="http://127.0.0.1:9",
    )
    context = AppContext.create(settings)
    try:
        with service_in_thread(context) as base:
            live = httpx.get(f"{base}/healthz", timeout=10)
            ready = httpx.get(f"{base}/readyz", timeout=10)
    finally:
        context.close()

    assert live.status_code == 200
    assert_error_body(ready, 503, "database_unavailable")


# A database failure is a 5xx, and Stripe's next delivery applies the event


def test_a_database_failure_answers_500_and_the_next_delivery_applies_the_event(
    ctx: AppContext, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    dispatch = core.billing.webhooks._dispatch
    failed: list[str] = []

    def database_drops_once(
        session: Session, info: EventInfo, *rest: Any
    ) -> core.billing.webhooks.Outcome:
        if not failed:  # the database stands in for a connection it lost mid-transaction
            failed.append(info.id)
            raise OperationalError(
                "UPDATE payments SET status=%(status)s",
                None,
                ConnectionError("server closed the connection unexpectedly"),
            )
        return dispatch(session, info, *rest)

    monkeypatch.setattr(core.billing.webhooks, "_dispatch", database_drops_once)

    first = deliver(http, event)

    assert_error_body(first, 500, "database_unavailable")
    assert failed == [event["id"]]
    row = event_rows(ctx)[event["id"]]
    assert (row.outcome, row.handled_at) == ("failed", None)
    assert row.error is not None and "OperationalError" in row.error
    assert "server closed the connection" in row.error
    assert_untouched(ctx, billed)

    retry = deliver(http, event)  # Stripe delivers the same event again

    assert outcome_of(retry) == "applied"
    row = event_rows(ctx)[event["id"]]
    assert (row.outcome, row.error) == ("applied", None)
    assert row.handled_at is not None
    assert_paid_once(ctx, billed)
    assert outcome_of(deliver(http, event)) == "duplicate"
    assert_paid_once(ctx, billed)


@pytest.mark.parametrize("missing", ["status", "amount_remaining", "currency"])
def test_an_invoice_event_lacking_a_field_is_recorded_as_malformed_not_a_500(
    ctx: AppContext, http: httpx.Client, missing: str
) -> None:
    billed = billed_job(ctx)
    invoice = invoice_object(billed)
    del invoice[missing]
    event = stripe_event("invoice.paid", invoice)

    assert outcome_of(deliver(http, event)) == "malformed"

    row = event_rows(ctx)[event["id"]]
    assert row.outcome == "malformed" and row.detail is not None and missing in row.detail
    assert_untouched(ctx, billed)
