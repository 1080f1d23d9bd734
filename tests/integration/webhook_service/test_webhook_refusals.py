"""What webhook intake refuses: validly signed events of a bad shape, and genuine-looking
events that fail the cross-checks against our records. Each gets a clear answer (400 for
what is not a Stripe event, 200 with a recorded outcome for the rest, never a 500 while
the database is up), leaves a row that says what happened, and moves no money."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import core.billing.webhooks
from core.billing.replay import replay_stored
from core.billing.stripe_objects import EventInfo
from core.context import AppContext
from core.db.models import Job, Payment, ServiceProvider, StripeEvent
from core.db.session import session_scope
from core.identity.actor import SYSTEM
from core.reporting.earnings import ledger_mismatches
from tests.support.factories import marketplace
from tests.support.webhook_events import (
    Billed,
    assert_paid_once,
    assert_untouched,
    billed_job,
    deliver,
    event_rows,
    invoice_object,
    outcome_of,
    signed,
    stripe_customer_of,
    stripe_event,
)

BIG = 10**20


def row_of(ctx: AppContext, event: dict[str, Any]) -> StripeEvent:
    rows = event_rows(ctx)
    assert event["id"] in rows, "the delivery left no row"
    return rows[event["id"]]


def refused(ctx: AppContext, http: httpx.Client, event: dict[str, Any], outcome: str) -> str:
    """Deliver; expect a 200 with this outcome, recorded with a reason, and return it."""
    assert outcome_of(deliver(http, event)) == outcome
    row = row_of(ctx, event)
    assert (row.outcome, row.handled_at is not None) == (outcome, True)
    assert row.detail
    return row.detail


# Cross-checks: each case names the refusal and proves nothing moved


def test_an_invoice_of_one_customer_naming_another_customers_job_is_rejected(
    ctx: AppContext, http: httpx.Client
) -> None:
    victim, attacker = billed_job(ctx), billed_job(ctx)
    forged = {**invoice_object(victim), "customer": stripe_customer_of(attacker.customer_id)}

    detail = refused(ctx, http, stripe_event("invoice.paid", forged), "rejected")

    assert "belongs to Stripe customer" in detail
    assert_untouched(ctx, victim)
    assert_untouched(ctx, attacker)


def test_an_invoice_in_another_currency_is_rejected(ctx: AppContext, http: httpx.Client) -> None:
    billed = billed_job(ctx)
    euros = {**invoice_object(billed), "currency": "eur"}

    detail = refused(ctx, http, stripe_event("invoice.paid", euros), "rejected")

    assert "EUR" in detail and "USD" in detail
    assert_untouched(ctx, billed)


def test_a_job_never_completed_is_not_paid_by_a_zero_invoice(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    with session_scope(ctx.sessions) as session:  # back to new: the payment is 0 until done
        session.execute(update(Job).where(Job.id == billed.job_id).values(status="new"))
        session.execute(update(Payment).where(Payment.id == billed.payment_id).values(amount=0))
    zero = invoice_object(Billed(**{**vars(billed), "amount": 0}), amount_paid=0)

    detail = refused(ctx, http, stripe_event("invoice.paid", zero), "rejected")

    assert "never completed" in detail
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, billed.job_id)
        provider = session.get(ServiceProvider, billed.provider_id)
        assert job is not None and provider is not None
        assert (job.status, provider.total_jobs, provider.earnings) == ("new", 0, 0)


def test_a_fraction_of_a_cent_is_malformed_not_truncated(
    ctx: AppContext, http: httpx.Client
) -> None:
    billed = billed_job(ctx)
    fraction = {**invoice_object(billed), "amount_paid": billed.amount + 0.9}

    detail = refused(ctx, http, stripe_event("invoice.paid", fraction), "malformed")

    assert "amount_paid" in detail
    assert_untouched(ctx, billed)


def test_a_charge_is_not_applied_as_an_invoice_payment(ctx: AppContext, http: httpx.Client) -> None:
    billed = billed_job(ctx)
    charge = {**invoice_object(billed), "object": "charge"}

    detail = refused(ctx, http, stripe_event("invoice.paid", charge), "rejected")

    assert "not an invoice" in detail
    assert_untouched(ctx, billed)


def test_the_same_event_with_our_customer_and_currency_is_applied(
    ctx: AppContext, http: httpx.Client
) -> None:
    """The control for the cases above: the checks refuse only what they must."""
    billed = billed_job(ctx)
    assert outcome_of(deliver(http, stripe_event("invoice.paid", invoice_object(billed)))) == (
        "applied"
    )
    assert_paid_once(ctx, billed)


# Shapes Stripe never sends: recorded, never a 500


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


OBJECT_SHAPES = {
    "created far in the future": {"created": BIG},
    "paid_at far in the future": {"status_transitions": {"paid_at": BIG}},
    "due_date far in the future": {"due_date": BIG},
    "status_transitions a list": {"status_transitions": [1]},
    "lines a string": {"lines": "x"},
    "amount_paid a word": {"amount_paid": "abc"},
    "amount_paid null": {"amount_paid": None},
    "a four-letter currency": {"currency": "usdx"},
    "an unknown status": {"status": "settled"},
    "an id of 300 characters": {"id": "in_" + "x" * 297},
    "metadata nested 100 deep": {"metadata": _nested(100)},
    "a metadata value of 1000 characters": {"metadata": {"job_id": "1", "note": "n" * 1000}},
}


@pytest.mark.parametrize("change", OBJECT_SHAPES.values(), ids=OBJECT_SHAPES.keys())
def test_an_invoice_of_a_shape_stripe_never_sends_is_recorded_as_malformed(
    ctx: AppContext, http: httpx.Client, change: dict[str, Any]
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", {**invoice_object(billed), **change})

    refused(ctx, http, event, "malformed")

    assert_untouched(ctx, billed)


@pytest.mark.parametrize(
    ("key", "value"),
    [("job_id", str(2**31)), ("payment_id", str(2**40)), ("job_id", "-3"), ("job_id", "１２")],
    ids=["job_id past 32 bits", "payment_id past 32 bits", "negative", "full-width digits"],
)
def test_metadata_ids_that_cannot_be_ours_make_an_orphan(
    ctx: AppContext, http: httpx.Client, key: str, value: str
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    event = stripe_event("invoice.paid", {**obj, "metadata": {**obj["metadata"], key: value}})

    refused(ctx, http, event, "orphan")

    assert_untouched(ctx, billed)


ENVELOPES = {
    "a type of 300 characters": {"type": "invoice." + "p" * 292},
    "an event id of 300 characters": {"id": "evt_" + "e" * 296},
    "created far in the future": {"created": BIG},
    "no data": {"data": None},
    "an object that is a list": {"data": {"object": [1, 2]}},
}


@pytest.mark.parametrize("change", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_a_signed_body_that_is_not_a_stripe_event_is_a_400(
    ctx: AppContext, http: httpx.Client, change: dict[str, Any]
) -> None:
    billed = billed_job(ctx)
    event = {**stripe_event("invoice.paid", invoice_object(billed)), **change}

    answer = deliver(http, event)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_webhook"
    assert event_rows(ctx) == {}
    assert_untouched(ctx, billed)


def test_json_nested_past_what_a_parser_takes_is_a_400_not_a_crash(
    ctx: AppContext, http: httpx.Client
) -> None:
    payload = "[" * 5000 + "]" * 5000
    answer = http.post("/payments/stripe/webhook", content=payload, headers=signed(payload))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")


# Failures that are not the database's: recorded with their traceback, answered as JSON


@pytest.mark.parametrize(
    "failure",
    [
        IntegrityError("INSERT INTO payments", None, ValueError("value out of range")),
        RuntimeError("a bug in a handler"),
    ],
    ids=["a data error", "a bug"],
)
def test_a_failure_a_retry_cannot_cure_is_recorded_with_its_traceback(
    ctx: AppContext,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.paid", invoice_object(billed))
    dispatch = core.billing.webhooks._dispatch

    def broken(session: Session, info: EventInfo, *rest: Any) -> Any:
        raise failure

    monkeypatch.setattr(core.billing.webhooks, "_dispatch", broken)
    answer = deliver(http, event)

    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "error"
    row = row_of(ctx, event)
    assert row.outcome == "error" and row.handled_at is None
    assert row.error is not None and "Traceback" in row.error
    assert type(failure).__name__ in row.error
    assert row.payload is not None and json.loads(row.payload)["id"] == event["id"]
    assert_untouched(ctx, billed)

    # Once the fault is gone, the stored payload is enough to finish: no call to Stripe.
    monkeypatch.setattr(core.billing.webhooks, "_dispatch", dispatch)
    result = replay_stored(ctx, actor=SYSTEM)
    assert result.outcomes == {"applied": 1}
    assert_paid_once(ctx, billed)
    assert replay_stored(ctx, actor=SYSTEM).events == 0


def test_every_delivery_keeps_its_payload(ctx: AppContext, http: httpx.Client) -> None:
    billed = billed_job(ctx)
    event = stripe_event("invoice.sent", invoice_object(billed, status="open"))
    deliver(http, event)
    stored = row_of(ctx, event).payload
    assert stored is not None and json.loads(stored) == event


# The property: any shape, any metadata, never a 5xx, always a row, money only if it adds up

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "id",
        "object",
        "status",
        "customer",
        "currency",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "created",
        "due_date",
        "status_transitions",
        "lines",
        "metadata",
        "hosted_invoice_url",
    ]
)
TYPES = st.sampled_from(
    ["invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed", "invoice.sent"]
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """An event type, changes to a valid invoice, and whose job the metadata names."""
    changes = draw(st.dictionaries(FIELDS, VALUES, max_size=3))
    names = draw(st.sampled_from(["own", "other customer's", "missing", "garbage"]))
    return draw(TYPES), changes, names


def money(ctx: AppContext) -> list[tuple[Any, ...]]:
    with session_scope(ctx.sessions) as session:
        payments = session.execute(
            select(Payment.id, Payment.status, Payment.amount, Payment.method).order_by(Payment.id)
        ).all()
        providers = session.execute(
            select(ServiceProvider.id, ServiceProvider.earnings, ServiceProvider.total_jobs)
        ).all()
        jobs = session.execute(select(Job.id, Job.status).order_by(Job.id)).all()
    return [tuple(row) for row in [*payments, *providers, *jobs]]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_any_signed_event_gets_a_clear_answer_a_row_and_moves_money_only_when_it_adds_up(
    ctx: AppContext, http: httpx.Client, delivery: tuple[str, dict[str, Any], str]
) -> None:
    event_type, changes, names = delivery
    billed, other = billed_job(ctx), billed_job(ctx)
    obj = {**invoice_object(billed), **changes}
    if "metadata" not in changes:
        job_id = {
            "own": str(billed.job_id),
            "other customer's": str(other.job_id),
            "missing": "999999",
            "garbage": "１",
        }[names]
        obj["metadata"] = {"job_id": job_id}
    event = stripe_event(event_type, obj)
    before = money(ctx)

    answer = deliver(http, event)

    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 400)
    if answer.status_code == 200:
        row = row_of(ctx, event)
        assert row.outcome == answer.json()["outcome"]
        assert row.outcome != "error", row.error
    if money(ctx) != before:
        # Only a genuine payment of our own job, by its customer, in our currency, moves money.
        assert answer.json()["outcome"] == "applied"
        assert obj["metadata"] == {"job_id": str(billed.job_id)}
        assert obj.get("customer") == stripe_customer_of(billed.customer_id)
        assert (obj.get("currency"), obj.get("object")) == ("usd", "invoice")
        assert obj.get("amount_paid") == billed.amount and type(obj["amount_paid"]) is int
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []


def test_the_property_test_can_see_a_payment(ctx: AppContext, http: httpx.Client) -> None:
    """Guard for the property above: an unchanged valid event does move money, so the
    property's money check is not vacuous."""
    with session_scope(ctx.sessions) as session:
        marketplace(session)
    billed = billed_job(ctx)
    before = money(ctx)
    assert outcome_of(deliver(http, stripe_event("invoice.paid", invoice_object(billed)))) == (
        "applied"
    )
    assert money(ctx) != before
