"""A job's invoice as the customer reads it, made through invoicing against the sandbox: the
provider, the job number, the service date and the job's description, within Stripe's
limits, and shown as text on the hosted page."""

from __future__ import annotations

from html import escape

from core.billing.invoice_content import MEMO_LIMIT, service_date
from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope
from core.jobs.lifecycle import complete_job
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl

HTML_NOTE = "<b>Kitchen</b> sink & **tap** <script>alert(1)</script>"


def invoiced(ctx: AppContext, market: Market, description: str) -> tuple[Job, str]:
    job_id = job_for(ctx, market, description=description)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
    return job, result.invoice.invoice_id


def test_the_invoice_names_the_provider_job_service_date_and_work(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job, invoice_id = invoiced(ctx, market, HTML_NOTE)
    invoice = sandbox.client.v1.invoices.retrieve(invoice_id)
    done_on = service_date(job.completed_at)

    assert {(f.name, f.value) for f in invoice.custom_fields or []} == {
        ("Job", f"#{job.id}"),
        ("Service date", done_on),
        ("Provider", "Rivera Plumbing"),
    }
    assert invoice.description is not None
    assert invoice.description.startswith(
        f"Plumbing by Rivera Plumbing on {done_on} (job #{job.id})."
    )
    assert invoice.description.endswith(HTML_NOTE)
    [line] = invoice.lines.data
    assert line.description == f"Plumbing - Home Repair: {HTML_NOTE}"

    assert invoice.hosted_invoice_url is not None
    html = sandbox.http.get(invoice.hosted_invoice_url).text
    assert escape(HTML_NOTE) in html and "<script>" not in html and "<b>" not in html
    assert f"#{job.id}" in html and escape(done_on) in html and "Rivera Plumbing" in html


def test_an_over_long_description_is_cut_not_refused(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job, invoice_id = invoiced(ctx, market, "Replace every pipe. " * 100)  # 2,000 characters
    invoice = sandbox.client.v1.invoices.retrieve(invoice_id)

    assert invoice.status == "open" and invoice.amount_due == job.price
    assert invoice.description is not None
    assert len(invoice.description) == MEMO_LIMIT and invoice.description.endswith("…")
    [line] = invoice.lines.data
    assert line.description is not None and line.description.endswith("…")
