"""Shared fixtures: one sandbox server per test session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.receiver import Receiver, running_receiver
from tests.support.sandbox import SandboxControl, running_sandbox


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
