"""A duplicate of an event this process handled is answered from memory, with no database
work; one it has not seen (another process, a restart) is still found by its unique key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event as sqlalchemy_event

from core.billing.handled_events import HandledEvents
from core.billing.webhooks import receive
from core.config import Settings
from core.context import AppContext
from tests.support.webhook_events import (
    SECRET,
    assert_paid_once,
    billed_job,
    event_outcomes,
    invoice_object,
    signed,
    stripe_event,
)


@contextmanager
def statements_run(ctx: AppContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    engine = ctx.engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", count)


def deliver(ctx: AppContext, payload: str) -> str:
    answer = receive(
        ctx.sessions,
        payload.encode(),
        signed(payload)["Stripe-Signature"],
        secret=SECRET,
        currency="usd",
    )
    assert answer.status == 200, answer
    return str(answer.body["outcome"])


def test_a_duplicate_of_a_handled_event_touches_no_database(ctx: AppContext) -> None:
    billed = billed_job(ctx)
    payload = json.dumps(stripe_event("invoice.paid", invoice_object(billed)))
    assert deliver(ctx, payload) == "applied"

    with statements_run(ctx) as statements:
        outcomes = [deliver(ctx, payload) for _ in range(3)]

    assert outcomes == ["duplicate"] * 3
    assert statements == []
    assert_paid_once(ctx, billed)


def test_another_process_finds_the_duplicate_by_its_key(
    ctx: AppContext, settings: Settings
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    payload = json.dumps(event)
    assert deliver(ctx, payload) == "applied"

    other = AppContext.create(settings)  # its own sessions, so its own memory
    try:
        with statements_run(other) as statements:
            assert deliver(other, payload) == "duplicate"
        assert statements  # it asked the database
    finally:
        other.close()
    assert_paid_once(ctx, billed)
    assert event_outcomes(ctx) == {event["id"]: "applied"}


def test_the_memory_keeps_the_newest_ids_up_to_its_limit() -> None:
    memory = HandledEvents(limit=3)
    for event_id in ("evt_1", "evt_2", "evt_3", "evt_4"):
        memory.add(event_id)
    assert [e in memory for e in ("evt_1", "evt_2", "evt_3", "evt_4")] == [False, True, True, True]
