"""Invariant 5: no database transaction is held across a network call to Stripe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.billing.invoicing import resend_invoice
from core.context import AppContext
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl


def watch_stripe_calls(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record, for every Stripe call, how many database connections were checked out."""
    seen: list[tuple[str, int]] = []
    original = ctx.gateway._call

    def observed(step: str, operation: Callable[[], Any]) -> Any:
        seen.append((step, ctx.engine.pool.checkedout()))  # type: ignore[attr-defined]
        return original(step, operation)

    monkeypatch.setattr(ctx.gateway, "_call", observed)
    return seen


def test_invoicing_holds_no_connection_during_stripe_calls(
    ctx: AppContext, sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
        provider_id = provider.id
    seen = watch_stripe_calls(ctx, monkeypatch)
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", provider_id))
    assert result.error is None
    resend_invoice(ctx, job_id=job_id, actor=Actor("provider", provider_id))
    steps = [step for step, _ in seen]
    assert {"customer_search", "invoice_create", "item_create", "send"} <= set(steps)
    assert [checked_out for _, checked_out in seen] == [0] * len(seen)


def test_failed_invoicing_holds_no_connection_either(
    ctx: AppContext, sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
        provider_id = provider.id
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=10)
    seen = watch_stripe_calls(ctx, monkeypatch)
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", provider_id))
    assert result.error is not None and result.error.step == "send"
    assert seen and all(checked_out == 0 for _, checked_out in seen)
    assert ctx.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
