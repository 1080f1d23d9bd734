"""The REST API's view of money that moved back: `GET /jobs/{id}` with the word its invoice
shows and each refund and dispute, and a provider's earnings with what moved back apart."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core.context import AppContext
from core.db.session import session_scope
from core.identity.api_tokens import issue_token
from tests.support.factories import Market, job_for, marketplace
from tests.support.money_back_rows import dispute, paid_by_card, refund
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PAID_AT = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def people(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


def bearer(ctx: AppContext, role: str, subject: int | None = None) -> dict[str, str]:
    token = issue_token(ctx.settings, role=role, subject_id=subject, ttl=timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


def test_a_job_shows_its_refunds_and_disputes(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    refunded, disputed = job_for(ctx, people, 20000), job_for(ctx, people, 9000)
    with session_scope(ctx.sessions) as session:
        paid_by_card(session, refunded, paid_at=PAID_AT)
        paid_by_card(session, disputed, paid_at=PAID_AT)
        refund(session, refunded, 5000, at=PAID_AT + timedelta(days=1), memo="<b>Late</b>")
        dispute(session, disputed, 9000, at=PAID_AT + timedelta(days=2))

    answer = client.get(f"/jobs/{refunded}", headers=bearer(ctx, "customer", people.customer_id))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["id"], body["status"], body["invoice_status"]) == (
        refunded,
        "paid",
        "partly refunded",
    )
    back = body["money_back"]
    assert (back["refunded"], back["taken_back"], back["disputes"]) == (5000, 5000, [])
    [line] = back["refunds"]
    assert (line["amount"], line["status"], line["memo"]) == (5000, "succeeded", "<b>Late</b>")

    answer = client.get(f"/jobs/{disputed}", headers=bearer(ctx, "provider", people.provider_id))
    body = answer.json()
    assert body["invoice_status"] == "disputed"
    [case] = body["money_back"]["disputes"]
    assert (case["amount"], case["status"], case["outcome"]) == (9000, "needs_response", None)
    assert case["evidence_due_by"].startswith("2026-02-19")

    # Someone else's job is not found, as a missing one is.
    stranger = bearer(ctx, "customer", people.customer_id + 1)
    assert client.get(f"/jobs/{refunded}", headers=stranger).status_code == 404
    assert client.get("/jobs/999999", headers=bearer(ctx, "admin")).status_code == 404
    assert client.get(f"/jobs/{refunded}").status_code == 401


def test_a_job_not_invoiced_shows_none_and_nothing_moved_back(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    job_id = job_for(ctx, people)
    body = client.get(f"/jobs/{job_id}", headers=bearer(ctx, "admin")).json()
    assert body["invoice_status"] == "none"
    assert body["money_back"] == {
        "refunded": 0,
        "disputed": 0,
        "dispute_lost": 0,
        "taken_back": 0,
        "refunds": [],
        "disputes": [],
    }


def test_earnings_are_net_with_what_moved_back_apart(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    # Seconds ago, so that all of it falls in this month, as the route counts by the clock.
    now = datetime.now(UTC)
    jobs = [job_for(ctx, people, 10000) for _ in range(3)]
    with session_scope(ctx.sessions) as session:
        for job_id in jobs:
            paid_by_card(session, job_id, paid_at=now - timedelta(seconds=3))
        refund(session, jobs[0], 2500, at=now - timedelta(seconds=2))
        dispute(session, jobs[1], 10000, at=now - timedelta(seconds=1))
        dispute(session, jobs[2], 10000, at=now - timedelta(seconds=1))
        dispute(
            session, jobs[2], 10000, at=now - timedelta(seconds=1), status="lost", closed_at=now
        )

    answer = client.get(
        f"/payments/provider/{people.provider_id}/earnings",
        headers=bearer(ctx, "provider", people.provider_id),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["received"], body["refunded"], body["dispute_lost"]) == (30000, 2500, 10000)
    assert (body["balance"], body["held"], body["jobs_paid"]) == (17500, 10000, 2)
    assert body["refunded_this_month"] == 2500
    assert body["by_month"][-1]["amount"] == 17500  # net: the month adds up to the balance
