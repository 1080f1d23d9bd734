"""Rotating the endpoint's signing secret loses nothing: while STRIPE_WEBHOOK_SECRET_PREVIOUS
names the secret being replaced, deliveries signed with it or with the new one are both
accepted, and anything else is still refused; once it is removed, the old one is refused."""

from __future__ import annotations

import json

import httpx
from pydantic import SecretStr

from core.context import AppContext
from tests.support.webhook_events import SECRET, WEBHOOK, signed, stripe_event

OLD = "whsec_being_rotated_out"


def post(http: httpx.Client, secret: str) -> httpx.Response:
    payload = json.dumps(stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    return http.post(WEBHOOK, content=payload, headers=signed(payload, secret=secret))


def test_both_secrets_are_accepted_during_the_switch_and_the_old_one_after_it_is_not(
    ctx: AppContext, http: httpx.Client
) -> None:
    ctx.settings.stripe_webhook_secret_previous = SecretStr(OLD)
    assert ctx.settings.webhook_secrets == (SECRET, OLD)

    assert post(http, SECRET).status_code == 200
    assert post(http, OLD).status_code == 200
    stranger = post(http, "whsec_someone_else")
    assert stranger.status_code == 400
    assert stranger.json()["error"]["code"] == "invalid_webhook"

    ctx.settings.stripe_webhook_secret_previous = None  # the switch is over
    assert post(http, SECRET).status_code == 200
    assert post(http, OLD).status_code == 400
