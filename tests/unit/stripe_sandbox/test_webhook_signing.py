"""Webhook signatures that the official SDK verifies, and the `--chaos` setting parser."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from stripe_sandbox.webhooks import Chaos, sign

SECRET = "whsec_sandbox_test_secret"
PAYLOAD = json.dumps(
    {
        "id": "evt_123",
        "object": "event",
        "type": "invoice.paid",
        "api_version": stripe.api_version,
        "created": 1_700_000_000,
        "data": {"object": {"id": "in_123", "object": "invoice", "status": "paid"}},
    },
    indent=2,
)


def test_signature_is_accepted_by_the_official_sdk() -> None:
    header = sign(PAYLOAD, SECRET, int(time.time()))
    event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET)
    assert event.id == "evt_123"
    assert event.type == "invoice.paid"


def test_signature_accepts_payload_as_bytes_too() -> None:
    header = sign(PAYLOAD, SECRET, int(time.time()))
    event = stripe.Webhook.construct_event(PAYLOAD.encode(), header, SECRET)
    assert event.id == "evt_123"


def test_signature_header_has_stripes_shape() -> None:
    header = sign(PAYLOAD, SECRET, 1_700_000_000)
    timestamp, signature = header.split(",")
    assert timestamp == "t=1700000000"
    assert signature.startswith("v1=")
    assert len(signature.removeprefix("v1=")) == 64
    int(signature.removeprefix("v1="), 16)


def test_signature_with_another_secret_is_rejected() -> None:
    header = sign(PAYLOAD, "whsec_someone_else", int(time.time()))
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, SECRET)


def test_signature_over_a_changed_payload_is_rejected() -> None:
    header = sign(PAYLOAD, SECRET, int(time.time()))
    changed = PAYLOAD.replace('"paid"', '"open"')
    assert changed != PAYLOAD
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(changed, header, SECRET)


def test_signature_older_than_the_tolerance_is_rejected() -> None:
    header = sign(PAYLOAD, SECRET, int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, SECRET, tolerance=300)


def test_signature_within_the_tolerance_is_accepted() -> None:
    header = sign(PAYLOAD, SECRET, int(time.time()) - 250)
    event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET, tolerance=300)
    assert event.id == "evt_123"


def test_signature_depends_on_the_timestamp() -> None:
    now = int(time.time())
    signature_now = sign(PAYLOAD, SECRET, now).split(",")[1]
    forged = f"t={now - 1},{signature_now}"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, forged, SECRET)


# Chaos.parse


def test_chaos_parses_every_setting() -> None:
    chaos = Chaos.parse("duplicate=0.3,reorder=0.2,max_delay=1,seed=7")
    assert chaos == Chaos(duplicate=0.3, reorder=0.2, max_delay=1.0, seed=7)


def test_chaos_keeps_defaults_for_unnamed_settings() -> None:
    assert Chaos.parse("duplicate=0.5") == Chaos(duplicate=0.5, reorder=0.0, max_delay=0.5)
    assert Chaos.parse("") == Chaos()


def test_chaos_tolerates_spaces_and_a_trailing_comma() -> None:
    assert Chaos.parse(" duplicate=1 , reorder=0 ,") == Chaos(duplicate=1.0, reorder=0.0)


def test_chaos_probabilities_at_the_bounds_are_accepted() -> None:
    assert Chaos.parse("duplicate=0,reorder=1") == Chaos(duplicate=0.0, reorder=1.0)


@pytest.mark.parametrize("text", ["flood=0.3", "duplicate=0.3,jitter=1", "DUPLICATE=0.3"])
def test_chaos_refuses_unknown_names(text: str) -> None:
    with pytest.raises(ValueError, match="chaos setting"):
        Chaos.parse(text)


@pytest.mark.parametrize(
    "text", ["duplicate=1.5", "duplicate=-0.1", "reorder=2", "reorder=-1", "duplicate=nan"]
)
def test_chaos_refuses_probabilities_outside_zero_to_one(text: str) -> None:
    with pytest.raises(ValueError, match="probability between 0 and 1"):
        Chaos.parse(text)


@pytest.mark.parametrize("text", ["duplicate", "duplicate=0.3,reorder", "seed:7"])
def test_chaos_refuses_a_setting_without_equals(text: str) -> None:
    with pytest.raises(ValueError, match="chaos setting"):
        Chaos.parse(text)


@pytest.mark.parametrize("text", ["duplicate=often", "seed=1.5", "max_delay=soon"])
def test_chaos_refuses_values_that_are_not_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        Chaos.parse(text)
