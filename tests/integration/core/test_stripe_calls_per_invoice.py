"""How many Stripe calls invoicing a job costs, counted at the sandbox: our own records (the
Stripe customer per customer, the invoice per payment) and idempotency keys stand in for
searches, and sending a draft finalizes it."""

from __future__ import annotations

from core.context import AppContext
from core.jobs.lifecycle import complete_job
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl


def calls_to_invoice(ctx: AppContext, sandbox: SandboxControl, market: Market) -> dict[str, int]:
    job_id = job_for(ctx, market)
    before = sandbox.request_counts()
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    assert result.invoice.status == "open"
    after = sandbox.request_counts()
    return {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route)}


def test_a_customer_invoiced_before_costs_three_calls_and_no_search(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    calls_to_invoice(ctx, sandbox, market)  # the first invoice records the Stripe customer

    calls = calls_to_invoice(ctx, sandbox, market)

    assert calls == {
        "POST /v1/invoices": 1,
        "POST /v1/invoiceitems": 1,
        "POST /v1/invoices/{id}/send": 1,
    }


def test_a_new_customer_costs_one_search_and_one_create_more(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """The search by `metadata['user_id']` runs once per customer ever, so a Stripe customer
    made elsewhere for them is used rather than a second one; then our record answers."""
    calls = calls_to_invoice(ctx, sandbox, market)

    assert calls == {
        "GET /v1/customers/search": 1,
        "POST /v1/customers": 1,
        "POST /v1/invoices": 1,
        "POST /v1/invoiceitems": 1,
        "POST /v1/invoices/{id}/send": 1,
    }
