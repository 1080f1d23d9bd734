"""The REST API's refund of a paid job, over HTTP against the running service, with the
sandbox's webhooks delivered to it: preview, refund once per request, and every refusal
in the one error body."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from core.context import AppContext
from core.db.models import ServiceProvider
from core.db.session import session_scope
from core.identity.api_tokens import issue_token
from core.jobs.lifecycle import complete_job
from tests.conftest import LiveService
from tests.support.factories import Market, job_for, marketplace
from tests.support.sandbox import SandboxControl


@pytest.fixture
def market(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)


@pytest.fixture
def api(live_service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base, timeout=30) as client:
        yield client


def bearer(ctx: AppContext, role: str, subject: int | None = None) -> dict[str, str]:
    token = issue_token(ctx.settings, role=role, subject_id=subject, ttl=timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, price: int
) -> tuple[int, str]:
    """A job completed, invoiced and paid by card, every event delivered: (job, invoice)."""
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0
    return job_id, result.invoice.invoice_id


def earnings(ctx: AppContext, provider_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        return provider.earnings


def test_an_admin_previews_then_refunds_once_per_request(
    ctx: AppContext, sandbox: SandboxControl, api: httpx.Client, market: Market
) -> None:
    job, invoice_id = paid_job(ctx, sandbox, market, 16000)
    admin = bearer(ctx, "admin")

    preview = api.get(f"/jobs/{job}/refunds/preview", params={"amount": 4000}, headers=admin)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "job_id": job,
        "invoice_id": invoice_id,
        "currency": "usd",
        "paid": 16000,
        "already_refunded": 0,
        "disputed": 0,
        "left_to_refund": 16000,
        "amount": 4000,
        "provider_earnings": 16000,
        "provider_earnings_after": 12000,
        "refunded_in_full": False,
    }

    body = {"amount": 4000, "reason": "Arrived late", "refunded_before": 0}
    made = api.post(f"/jobs/{job}/refunds", json=body, headers=admin)
    assert made.status_code == 201, made.text
    refund = made.json()
    assert (refund["amount"], refund["left_to_refund"], refund["replayed"]) == (4000, 12000, False)
    assert refund["provider_earnings"] == 12000 == earnings(ctx, market.provider_id)

    again = api.post(f"/jobs/{job}/refunds", json=body, headers=admin)  # a client's retry
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["credit_note_id"] == refund["credit_note_id"]
    notes = sandbox.client.v1.credit_notes.list(params={"invoice": invoice_id}).data
    assert [note.id for note in notes] == [refund["credit_note_id"]]

    assert sandbox.drain(timeout=20) == 0
    assert earnings(ctx, market.provider_id) == 12000  # the webhooks take nothing more
    stale = api.post(
        f"/jobs/{job}/refunds",
        json={"amount": 1000, "reason": "Another", "refunded_before": 0},
        headers=admin,
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["message"].startswith(f"Job #{job} changed since the preview")


def test_refusals_answer_in_the_one_error_body_and_change_nothing(
    ctx: AppContext, sandbox: SandboxControl, api: httpx.Client, market: Market
) -> None:
    job, invoice_id = paid_job(ctx, sandbox, market, 5000)
    admin = bearer(ctx, "admin")
    url = f"/jobs/{job}/refunds"

    too_much = api.post(url, json={"amount": 5001, "reason": "Too much"}, headers=admin)
    assert too_much.status_code == 409
    assert too_much.json() == {
        "error": {
            "code": "conflict",
            "message": f"$50.01 is more than is left to refund on job #{job}: $50.00 (paid "
            "$50.00, already refunded $0.00).",
        }
    }
    blank = api.post(url, json={"reason": "   "}, headers=admin)
    assert blank.status_code == 422
    assert [f["field"] for f in blank.json()["error"]["fields"]] == ["body.reason"]
    for role, subject in (("finance", None), ("provider", market.provider_id)):
        refused = api.post(url, json={"reason": "Asked"}, headers=bearer(ctx, role, subject))
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == (
            "Refunds are for admins; finance staff and providers cannot refund a payment"
        )
    missing = api.post("/jobs/999999/refunds", json={"reason": "Asked"}, headers=admin)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    unpaid = job_for(ctx, market)
    new = api.get(f"/jobs/{unpaid}/refunds/preview", headers=admin)
    assert new.status_code == 409 and "only a paid job can be refunded" in new.text

    words = "Charge ch_1 has been charged back; cannot issue a refund."
    sandbox.fault("/v1/credit_notes", method="POST", status=400, message=words)
    refused_by_stripe = api.post(url, json={"reason": "Broken tap"}, headers=admin)
    assert refused_by_stripe.status_code == 502
    assert refused_by_stripe.json()["error"] == {
        "code": "stripe_invalid_request",
        "message": f"Stripe refused to refund $50.00 of job #{job}: {words} Nothing was refunded.",
    }
    assert sandbox.client.v1.credit_notes.list(params={"invoice": invoice_id}).data == []
    assert earnings(ctx, market.provider_id) == 5000
