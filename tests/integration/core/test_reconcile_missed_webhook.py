"""A missed invoice.paid is found by the drift report and repaired to a clean state."""

from __future__ import annotations

from core.billing.reconcile import drift_report
from core.billing.repairs import repair
from core.context import AppContext
from core.db.models import Job, Notification, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import SYSTEM, Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl


def test_missed_payment_is_reported_then_applied_once(
    ctx: AppContext, sandbox: SandboxControl
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
        provider_id = provider.id
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", provider_id))
    assert result.invoice is not None
    # No webhook endpoint is registered: Stripe's invoice.paid reaches nobody.
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")

    report = drift_report(ctx, actor=SYSTEM)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("missed_payment", job_id)]

    outcome = repair(ctx, report.drifts[0], actor=SYSTEM, reason="missed webhook")
    assert outcome.ok, outcome.message
    again = repair(ctx, report.drifts[0], actor=SYSTEM, reason="missed webhook")
    assert again.ok and "already_applied" in again.message

    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        earner = session.get(ServiceProvider, provider_id)
        assert job is not None and job.status == "paid"
        assert earner is not None and (earner.earnings, earner.total_jobs) == (15000, 1)
        assert session.query(Notification).filter_by(kind="payment_received").count() == 1
        assert ledger_mismatches(session) == []
    assert drift_report(ctx, actor=SYSTEM).drifts == []
