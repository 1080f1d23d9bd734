"""Fixtures for the webhook service tests: the service for the test's context, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from core.context import AppContext
from tests.support.service import service_in_thread
from tests.support.webhook_events import SECRET


@pytest.fixture
def service(ctx: AppContext) -> Iterator[str]:
    """The webhook service for `ctx` on a free port, with our signing secret."""
    ctx.settings.stripe_webhook_secret = SecretStr(SECRET)
    with service_in_thread(ctx) as base:
        yield base


@pytest.fixture
def http(service: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service, timeout=30) as client:
        yield client
