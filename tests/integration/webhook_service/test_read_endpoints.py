"""The API's reads go through the reader sessions (on SQLite: no write lock, so a client
polling earnings or history never holds up the webhooks); its writes through the writers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from core.context import AppContext
from core.db.session import READ_ONLY, session_scope
from core.identity.api_tokens import issue_token
from tests.support.factories import Market, marketplace
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@contextmanager
def recorded_begins(engine: Engine) -> Iterator[list[bool]]:
    """Each transaction begun on `engine`'s pool while the block runs: True for a reader's."""
    begins: list[bool] = []

    def record(connection: Any) -> None:
        begins.append(bool(connection.get_execution_options().get(READ_ONLY, False)))

    event.listen(engine, "begin", record)
    try:
        yield begins
    finally:
        event.remove(engine, "begin", record)


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


def test_get_endpoints_read_through_the_readers(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    as_provider = bearer(ctx, "provider", people.provider_id)
    as_admin = bearer(ctx, "admin")
    for path, headers in [
        (f"/payments/provider/{people.provider_id}/earnings", as_provider),
        ("/payments/history", as_provider),
        ("/payments/history", as_admin),
        ("/readyz", {}),
    ]:
        with recorded_begins(ctx.engine) as begins:
            answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        assert begins == [True], path


def test_booking_writes_through_a_writer_then_reads_the_job_back_through_a_reader(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    with recorded_begins(ctx.engine) as begins:
        booked = client.post(
            "/jobs/create",
            headers=bearer(ctx, "customer", people.customer_id),
            json={
                "service_id": people.service_id,
                "provider_id": people.provider_id,
                "price": 15000,
                "description": "Leaky tap",
            },
        )
    assert booked.status_code == 201, booked.text
    assert begins == [False, True]
