"""Fixtures for the core tests that drive invoicing against the sandbox, and the CLI run
in-process against the test's database and sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from core.cli import main
from core.config import get_settings
from core.context import AppContext
from core.db.session import session_scope
from tests.support.factories import Market, marketplace
from tests.support.sandbox import SandboxControl


@pytest.fixture(autouse=True)
def quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK still retries a failed call twice, but waits 10 ms instead of 0.5-1 s."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)


@pytest.fixture
def market(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)


@dataclass
class CliRun:
    code: int
    data: Any
    err: str


@pytest.fixture
def reconcile_cli(
    ctx: AppContext,
    sandbox: SandboxControl,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., CliRun]]:
    for name in ("STRIPE_WEBHOOK_SECRET", "CURRENCY", "INVOICE_DAYS_UNTIL_DUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.base)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    get_settings.cache_clear()

    def run(*args: str) -> CliRun:
        capsys.readouterr()  # the call's own output only, not the test's log lines before it
        code = main(list(args))
        captured = capsys.readouterr()
        data = json.loads(captured.out) if "--json" in args else captured.out
        return CliRun(code, data, captured.err)

    yield run
    get_settings.cache_clear()
