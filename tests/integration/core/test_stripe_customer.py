"""Which Stripe customer a job's invoice goes to: the one whose metadata names our customer,
whatever its name and e-mail say, and no new one when it exists."""

from __future__ import annotations

from core.context import AppContext
from core.jobs.lifecycle import complete_job
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl


def test_checklist_customer_found_through_stripe_metadata(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    # A Stripe customer made earlier (another name, another e-mail): only metadata links it.
    existing = sandbox.client.v1.customers.create(
        params={
            "name": "A. Lee (old record)",
            "email": "old-address@example.com",
            "metadata": {"user_id": str(market.customer_id)},
        }
    )
    # And one with our customer's name and e-mail that belongs to someone else.
    sandbox.client.v1.customers.create(
        params={"name": "Ann Lee", "email": "ann@example.com", "metadata": {"user_id": "999"}}
    )

    result = complete_job(ctx, job_id=job_for(ctx, market), actor=market.provider)

    assert result.error is None and result.invoice is not None
    invoice = sandbox.client.v1.invoices.retrieve(result.invoice.invoice_id)
    assert invoice.customer == existing.id
    listing = sandbox.client.v1.customers.list(params={"limit": 100})
    assert len(list(listing.auto_paging_iter())) == 2  # none created
