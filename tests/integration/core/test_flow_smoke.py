from core.context import AppContext
from core.db.models import Job, Payment, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from tests.conftest import LiveService
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl


def test_complete_pay_and_webhook_mark_the_job_paid(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
        provider_id = provider.id
    result = complete_job(ctx, job_id=job_id, actor=Actor("provider", provider_id))
    assert result.error is None and result.invoice is not None
    assert result.invoice.amount_due == 15000
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain() == 0
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        provider_row = session.get(ServiceProvider, provider_id)
        assert job is not None and job.status == "paid"
        assert provider_row is not None and provider_row.earnings == 15000
        payment = session.query(Payment).filter_by(job_id=job_id).one()
        assert (payment.status, payment.method) == ("received", "stripe")
