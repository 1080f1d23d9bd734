"""Shared fixtures: one sandbox server per session (reset before every test), databases on
SQLite and (with TEST_DATABASE_URL) PostgreSQL, and the webhook service wired to both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.config import Settings
from core.context import AppContext
from core.db.migrate import upgrade
from tests.support.database import (
    empty_postgres,
    fresh_sqlite,
    own_postgres,
    postgres_url,
    sqlite_template,
)
from tests.support.receiver import Receiver, running_receiver
from tests.support.sandbox import SandboxControl, running_sandbox
from tests.support.service import service_in_thread

TEST_STRIPE_KEY = "sk_test_core_tests"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """With `-p no:xdist` (everything in this one process), accept and ignore the `-n` and
    `--dist` that pyproject.toml's addopts always pass."""
    if pluginmanager.is_blocked("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist is disabled (-p no:xdist)")
        # -n is a short option, which only pytest's own plugins may add through addoption.
        group._addoption("-n", "--numprocesses", dest="numprocesses", help="ignored")
        group.addoption("--dist", dest="dist", default="no", help="ignored")


# Cheap argon2 for every password the tests hash, here and in the processes they start
# (which inherit the environment); everything else keeps the strong default.
os.environ["PASSWORD_HASH_PROFILE"] = "fast"


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    # Fast retries so that webhook retry tests take a fraction of a second.
    with running_sandbox("--retry-schedule", "0.05,0.1,0.2") as base:
        yield base


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[SandboxControl]:
    control = SandboxControl(sandbox_url)
    control.reset()
    yield control
    control.reset()
    control.http.close()


@pytest.fixture
def receiver(sandbox: SandboxControl) -> Iterator[Receiver]:
    """A receiver registered as a webhook endpoint for every event type."""
    with running_receiver() as receiver:
        endpoint = sandbox.client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["*"]}
        )
        receiver.secret = endpoint.secret or ""
        yield receiver


@pytest.fixture(scope="session")
def sqlite_template_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str | None]:
    """A new database of this session's own (each xdist worker's) on TEST_DATABASE_URL's
    server, migrated from scratch; None without TEST_DATABASE_URL."""
    url = postgres_url()
    if url is None:
        yield None
        return
    with own_postgres(url, os.environ.get("PYTEST_XDIST_WORKER", "main")) as own:
        upgrade(own)
        yield own


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template_file: Path,
    postgres_migrated: str | None,
) -> str:
    """A migrated, empty database: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        return fresh_sqlite(sqlite_template_file, tmp_path)
    if postgres_migrated is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    empty_postgres(postgres_migrated)
    return postgres_migrated


@pytest.fixture
def settings(database_url: str, sandbox: SandboxControl) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        stripe_secret_key=SecretStr(TEST_STRIPE_KEY),
        stripe_api_base=sandbox.base,
        stripe_webhook_secret=SecretStr("whsec_placeholder_until_registered"),
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = AppContext.create(settings)
    context.gateway.rate_limit_backoff = 0.01  # keep 429 retries fast
    yield context
    context.close()


@dataclass
class LiveService:
    """The webhook service serving `ctx`, registered with the sandbox for our event types."""

    base: str
    webhook_url: str
    secret: str


@pytest.fixture
def live_service(ctx: AppContext, sandbox: SandboxControl) -> Iterator[LiveService]:
    from core.billing.webhooks import subscribed_event_types

    with service_in_thread(ctx) as base:
        url = f"{base}/payments/stripe/webhook"
        secret = ctx.gateway.replace_webhook_endpoint(url, subscribed_event_types())
        ctx.settings.stripe_webhook_secret = SecretStr(secret)
        yield LiveService(base, url, secret)
