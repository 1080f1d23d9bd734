"""Fixtures for the core tests that drive invoicing against the sandbox."""

from __future__ import annotations

import pytest
import stripe

from core.context import AppContext
from core.db.session import session_scope
from tests.support.factories import Market, marketplace


@pytest.fixture(autouse=True)
def quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK still retries a failed call twice, but waits 10 ms instead of 0.5-1 s."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)


@pytest.fixture
def market(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)
