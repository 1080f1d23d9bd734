"""The chaos run as a test: exactly once, never backwards and nothing lost, end to end.

Jobs are invoiced and paid through the Stripe sandbox with 30 % of its webhook deliveries
duplicated and 30 % held back (so reordered), a few Stripe calls failing, and the webhook
service (a uvicorn process: one worker on SQLite, several on PostgreSQL) SIGKILLed once
while deliveries are in flight and started again on the same port. Then every row that
counts is compared with what the plan says (tests/support/chaos_run.py).

Its size is `CHAOS_JOBS` (default 40 on SQLite, 60 on PostgreSQL, so that each run takes
well under half a minute); `make chaos` runs it at 400. `CHAOS_SEED` changes the plan and
the sandbox's chaos, `CHAOS_WORKERS` the service's workers on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from pydantic import SecretStr

from core.billing.webhooks import subscribed_event_types
from core.config import Settings
from core.context import AppContext
from tests.support.chaos_run import (
    CHAOS,
    RETRY_SCHEDULE,
    WEBHOOK_TIMEOUT,
    ChaosRun,
    Figures,
    actual_state,
    create_market,
    differences,
    expected_state,
    make_plan,
    paid_at_in_stripe,
)
from tests.support.sandbox import SandboxControl, running_sandbox
from tests.support.service import ServiceProcess, service_environment

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.xdist_group("chaos")]

DEFAULT_JOBS = {"sqlite": 40, "postgresql": 60}
SEED = int(os.environ.get("CHAOS_SEED") or 15)
WEBHOOK_PATH = "/payments/stripe/webhook"


@pytest.fixture
def chaos_sandbox() -> Iterator[SandboxControl]:
    """A sandbox of this test's own, delivering with chaos and quick retries."""
    with running_sandbox(
        "--chaos",
        f"{CHAOS},seed={SEED}",
        "--retry-schedule",
        RETRY_SCHEDULE,
        "--webhook-timeout",
        WEBHOOK_TIMEOUT,
    ) as base:
        control = SandboxControl(base)
        yield control
        control.http.close()


@pytest.fixture
def chaos_ctx(
    database_url: str, chaos_sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppContext]:
    # The SDK still retries a failed call twice, but after 10 ms instead of 0.5-1 s.
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        stripe_secret_key=SecretStr("sk_test_chaos_run"),
        stripe_api_base=chaos_sandbox.base,
        stripe_webhook_secret=SecretStr("whsec_unused_by_the_test_process"),
    )
    context = AppContext.create(settings)
    context.gateway.rate_limit_backoff = 0.01  # a 429's wait, kept short
    yield context
    context.close()


@pytest.fixture
def service(
    chaos_ctx: AppContext, chaos_sandbox: SandboxControl, tmp_path: Path
) -> Iterator[ServiceProcess]:
    """The webhook service as its own process, registered as the sandbox's endpoint."""
    postgres = chaos_ctx.settings.database_url.startswith("postgresql")
    workers = int(os.environ.get("CHAOS_WORKERS") or 2) if postgres else 1
    service = ServiceProcess({}, workers=workers, log=tmp_path / "service.log")
    try:
        secret = chaos_ctx.gateway.replace_webhook_endpoint(
            f"{service.base}{WEBHOOK_PATH}", subscribed_event_types()
        )
        service.environment = service_environment(
            chaos_ctx.settings.database_url, secret, chaos_sandbox.base
        )
        service.start()
        yield service
    finally:
        service.close()


def test_chaos_run_ends_in_exactly_the_planned_state(
    chaos_ctx: AppContext,
    chaos_sandbox: SandboxControl,
    service: ServiceProcess,
    chaos_figures: list[str],
) -> None:
    database = chaos_ctx.engine.dialect.name
    size = int(os.environ.get("CHAOS_JOBS") or DEFAULT_JOBS[database])
    plan = make_plan(size, SEED)
    run = ChaosRun(
        chaos_ctx,
        chaos_sandbox,
        service,
        plan,
        create_market(chaos_ctx, plan),
        Figures(database, service.workers, size),
    )
    try:
        run.run()
        expected = expected_state(run, paid_at_in_stripe(chaos_sandbox))
        found = actual_state(run)
    finally:
        print(run.figures.line())
    problems = differences(expected, found)
    chaos_figures.append(f"{run.figures.line()}: {'failed' if problems else 'exact'}")
    assert not problems, "\n".join(problems) + _service_log(service)

    # The chaos did happen: events came twice, the kill found deliveries in flight, and
    # deliveries failed and were retried.
    assert run.figures.duplicates > 0
    assert run.figures.kills == 1 and run.figures.pending_at_kill > 0
    assert run.figures.failed > 0
    assert run.watch.samples > 3


def _service_log(service: ServiceProcess, lines: int = 20) -> str:
    if service.log is None or not service.log.exists():
        return ""
    tail = service.log.read_text(errors="replace").splitlines()[-lines:]
    return "\n\nservice log (last lines):\n" + "\n".join(tail)
