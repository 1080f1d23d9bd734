"""`python -m core.cli refund`, in-process against the test's database and the sandbox:
the preview, refunding only when confirmed, JSON output, and refusals in one line."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from core.billing.refund_action import AUDIT_ACTION
from core.context import AppContext
from core.db.models import AuditLog, ServiceProvider, StripeRefund
from core.db.session import session_scope
from core.jobs.lifecycle import complete_job
from tests.conftest import LiveService
from tests.integration.core.conftest import CliRun
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl


def paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, price: int
) -> tuple[int, str]:
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0
    return job_id, result.invoice.invoice_id


def earnings(ctx: AppContext, provider_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        return provider.earnings


def test_refund_previews_then_refunds_only_with_yes(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    reconcile_cli: Callable[..., CliRun],
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 15000)

    asked = reconcile_cli("refund", str(job_id), "--amount", "2500", "--reason", "Late")
    assert asked.code == 1
    assert asked.data == (
        f"Refund job #{job_id} (Plumbing for Ann Lee, by Rivera Plumbing):\n"
        "  paid:              $150.00\n"
        "  already refunded:  $0.00\n"
        "  left to refund:    $150.00\n"
        "  back to customer:  $25.00 (the job would be partly refunded)\n"
        "  provider earnings: $150.00 → $125.00\n"
        f"  Stripe agrees: a credit note on invoice {invoice_id} refunds it.\n"
        "Not refunded: add --yes to refund.\n"
    )
    assert earnings(ctx, market.provider_id) == 15000

    done = reconcile_cli(
        "refund", str(job_id), "--amount", "2500", "--reason", "Late", "--yes", "--json"
    )
    assert done.code == 0, done.err
    preview, refund = done.data["preview"], done.data["refund"]
    assert (preview["amount"], preview["provider_earnings_after"]) == (2500, 12500)
    assert (refund["amount"], refund["left_to_refund"], refund["replayed"]) == (2500, 12500, False)
    assert refund["credit_note_id"].startswith("cn_")
    assert earnings(ctx, market.provider_id) == 12500

    rest = reconcile_cli("refund", str(job_id), "--reason", "Customer unhappy", "--yes")
    assert rest.code == 0
    assert f"Job #{job_id} is refunded in full: $125.00 went back to the customer" in rest.data
    assert sandbox.drain(timeout=20) == 0
    assert earnings(ctx, market.provider_id) == 0
    with session_scope(ctx.sessions) as session:
        # Stripe's `created` is in seconds: the second refund was recorded after the first.
        order = (StripeRefund.created, StripeRefund.recorded_at)
        amounts = [r.amount for r in session.scalars(select(StripeRefund).order_by(*order))]
        assert amounts == [2500, 12500]
        actors = session.scalars(select(AuditLog.actor).where(AuditLog.action == AUDIT_ACTION))
        assert list(actors) == ["system", "system"]


def test_refund_refusals_are_one_line_and_change_nothing(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    reconcile_cli: Callable[..., CliRun],
) -> None:
    job_id, _ = paid_job(ctx, sandbox, market, 5000)
    too_much = reconcile_cli("refund", str(job_id), "--amount", "5001", "--reason", "x", "--yes")
    assert (too_much.code, too_much.err) == (
        1,
        f"error: $50.01 is more than is left to refund on job #{job_id}: $50.00 (paid $50.00, "
        "already refunded $0.00).\n",
    )
    blank = reconcile_cli("refund", str(job_id), "--reason", " ", "--yes")
    assert blank.code == 1 and blank.err.startswith("error: A reason is required")
    unpaid = job_for(ctx, market)
    new = reconcile_cli("refund", str(unpaid), "--reason", "x", "--yes")
    assert (
        new.err == f"error: Job #{unpaid} is new and not paid; only a paid job can be refunded.\n"
    )
    assert earnings(ctx, market.provider_id) == 5000
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(StripeRefund)).all() == []
