"""The webhook service refuses to start without a signing secret, and never logs it."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from pydantic import SecretStr

from core.config import Settings
from core.context import AppContext
from stripe_sandbox.webhooks import sign
from tests.support.database import fresh_sqlite
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

SECRET = "whsec_never_in_the_logs_4f1c9a"
NO_STRIPE = "http://127.0.0.1:9"  # never called: handling an event makes no Stripe call


def context_with(database_url: str, secret: SecretStr | None) -> AppContext:
    return AppContext.create(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            stripe_secret_key=SecretStr("sk_test_app_startup"),
            stripe_api_base=NO_STRIPE,
            stripe_webhook_secret=secret,
        )
    )


@pytest.fixture
def database_url(sqlite_template_file: Path, tmp_path: Path) -> str:
    return fresh_sqlite(sqlite_template_file, tmp_path)


@pytest.mark.parametrize("secret", [None, SecretStr("")], ids=["unset", "empty"])
def test_the_app_refuses_to_start_without_a_webhook_secret(
    database_url: str, secret: SecretStr | None
) -> None:
    context = context_with(database_url, secret)
    app = create_app(context)
    try:
        with pytest.raises(RuntimeError) as refused, TestClient(app):
            pass
    finally:
        context.close()

    message = str(refused.value)
    assert "STRIPE_WEBHOOK_SECRET" in message
    assert "stripe listen" in message


def test_the_app_starts_and_serves_with_a_webhook_secret(database_url: str) -> None:
    context = context_with(database_url, SecretStr(SECRET))
    try:
        with TestClient(create_app(context)) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").status_code == 200
    finally:
        context.close()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    context = context_with(database_url, SecretStr(SECRET))
    try:
        with TestClient(create_app(context)) as test_client:
            yield test_client
    finally:
        context.close()


def test_the_secret_never_appears_in_logs_or_answers(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    payload = json.dumps(
        {
            "id": "evt_log_check",
            "object": "event",
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "type": "invoice.paid",
            "data": {
                "object": {
                    "id": "in_log_check",
                    "object": "invoice",
                    "created": int(time.time()),
                    "status": "paid",
                    "customer": "cus_log_check",
                    "currency": "usd",
                    "amount_due": 15000,
                    "amount_paid": 15000,
                    "amount_remaining": 0,
                    "metadata": {"job_id": "404", "payment_id": "404"},
                    "status_transitions": {"paid_at": int(time.time())},
                }
            },
        }
    )
    now = int(time.time())
    answers = [
        client.post(
            "/payments/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": sign(payload, SECRET, now)},
        ),
        client.post(  # signed with another secret
            "/payments/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": sign(payload, "whsec_other", now)},
        ),
        client.post(  # stale
            "/payments/webhook",
            content=payload,
            headers={"Stripe-Signature": sign(payload, SECRET, now - 3600)},
        ),
        client.post("/payments/stripe/webhook", content=payload),  # no signature
    ]

    assert [answer.status_code for answer in answers] == [200, 400, 400, 400]
    assert answers[0].json()["outcome"] == "orphan"  # handled, so the handling path logged
    assert any(getattr(r, "event_id", None) == "evt_log_check" for r in caplog.records)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
    for answer in answers:
        assert SECRET not in answer.text
