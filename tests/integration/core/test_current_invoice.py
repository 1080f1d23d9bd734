"""The invoice that counts for a job: one rule, kept as a fact in the database, and the
same answer from the dashboard's job list, the API, invoicing, reconciliation and aging."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.billing.invoice_copies import current_copy, forget_invoice_now, pick_current
from core.billing.invoicing import job_invoice, send_invoice
from core.billing.reconcile import drift_report
from core.billing.repairs import repair_all
from core.context import AppContext
from core.db.models import StripeInvoice
from core.db.session import session_scope
from core.identity.actor import SYSTEM, Actor
from core.identity.api_tokens import issue_token
from core.jobs.lifecycle import complete_job
from core.jobs.queries import JobFilter, list_jobs
from core.reporting.aging import receivables_aging
from tests.support.factories import (
    Market,
    invoice_in_stripe,
    invoiced_job,
    job_for,
)
from tests.support.sandbox import SandboxControl
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ADMIN = Actor("admin", 1)
PRICE = 15000
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Inv:
    id: str
    status: str
    created: datetime


def test_the_rule_prefers_paid_then_open_then_draft_then_uncollectible_then_void() -> None:
    older, newer = T0, T0 + timedelta(minutes=5)
    ladder = [
        Inv("void", "void", older),
        Inv("uncollectible", "uncollectible", older),
        Inv("draft", "draft", older),
        Inv("open", "open", older),
        Inv("paid", "paid", newer),
    ]
    for top in range(len(ladder), 0, -1):
        chosen = pick_current(ladder[:top])
        assert chosen is not None and chosen.id == ladder[top - 1].id
    assert pick_current([]) is None


def test_among_equals_the_one_sent_first_wins_then_the_oldest() -> None:
    a, b, c = Inv("a", "open", T0), Inv("b", "open", T0), Inv("c", "open", T0 - timedelta(days=1))
    assert pick_current([a, b, c]) == c  # nothing sent: the oldest
    assert pick_current([a, b]) == a  # same second: a stable tiebreak by id
    sent = {"b": T0 + timedelta(hours=1), "a": T0 + timedelta(hours=2)}
    assert pick_current([a, b, c], sent) == b  # the customer got b first


def current_ids(ctx: AppContext) -> dict[int, str]:
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(StripeInvoice.job_id, StripeInvoice.invoice_id).where(StripeInvoice.is_current)
        ).all()
        per_job = session.execute(
            select(StripeInvoice.job_id, func.count())
            .where(StripeInvoice.is_current)
            .group_by(StripeInvoice.job_id)
        ).all()
    assert all(count == 1 for _, count in per_job)
    return {job_id: invoice_id for job_id, invoice_id in rows if job_id is not None}


def statuses_in_stripe(sandbox: SandboxControl, job_id: int) -> dict[str, str]:
    found = sandbox.client.v1.invoices.search(params={"query": f"metadata['job_id']:'{job_id}'"})
    return {str(i.id): str(i.status) for i in found.data}


@pytest.fixture
def api(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


def api_invoice(ctx: AppContext, api: TestClient, market: Market, job_id: int) -> str:
    token = issue_token(
        ctx.settings, role="customer", subject_id=market.customer_id, ttl=timedelta(minutes=5)
    )
    answer = api.get(
        f"/payments/jobs/{job_id}/invoice", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["invoice_id"])


def dashboard_invoice(ctx: AppContext, market: Market, job_id: int) -> str | None:
    with session_scope(ctx.sessions) as session:
        page = list_jobs(session, actor=market.provider, filters=JobFilter(job_id=job_id))
    (row,) = page.rows
    return row.invoice_id


def second_invoice(ctx: AppContext, sandbox: SandboxControl, job_id: int) -> str:
    """A second open invoice for the job, made in Stripe by someone else (never sent by us)."""
    with session_scope(ctx.sessions) as session:
        copy = current_copy(session, job_id)
        assert copy is not None
        customer, payment_id = copy.customer, copy.payment_id
    assert payment_id is not None
    return invoice_in_stripe(
        sandbox,
        customer=customer,
        job_id=job_id,
        payment_id=payment_id,
        amount=PRICE,
        finalize=True,
    )


def test_two_open_invoices_the_dashboard_api_and_reconcile_agree_and_it_stays_open(
    ctx: AppContext, sandbox: SandboxControl, market: Market, api: TestClient
) -> None:
    job_id, sent = invoiced_job(ctx, market)
    extra = second_invoice(ctx, sandbox, job_id)  # newer, and open too

    assert api_invoice(ctx, api, market, job_id) == sent  # the API reads Stripe, then the rule
    assert current_ids(ctx)[job_id] == sent
    assert dashboard_invoice(ctx, market, job_id) == sent

    report = drift_report(ctx, actor=ADMIN)
    (drift,) = [d for d in report.drifts if d.job_id == job_id]
    assert (drift.kind, drift.keeps, drift.invoice_ids) == ("duplicate_invoices", sent, (extra,))
    assert all(result.ok for result in repair_all(ctx, report, actor=ADMIN, reason="tidy up"))

    assert statuses_in_stripe(sandbox, job_id) == {sent: "open", extra: "void"}
    assert api_invoice(ctx, api, market, job_id) == sent
    assert dashboard_invoice(ctx, market, job_id) == sent
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_a_second_invoice_that_was_paid_becomes_current_and_the_unpaid_one_is_voided(
    ctx: AppContext, sandbox: SandboxControl, market: Market, api: TestClient
) -> None:
    job_id, sent = invoiced_job(ctx, market)
    extra = second_invoice(ctx, sandbox, job_id)
    sandbox.client.v1.invoices.pay(extra, params={"payment_method": "pm_card_visa"})

    assert api_invoice(ctx, api, market, job_id) == extra  # paid beats open
    assert dashboard_invoice(ctx, market, job_id) == extra

    report = drift_report(ctx, actor=ADMIN)
    kinds = sorted(d.kind for d in report.drifts if d.job_id == job_id)
    assert kinds == ["duplicate_invoices", "missed_payment"]
    assert all(result.ok for result in repair_all(ctx, report, actor=ADMIN, reason="tidy up"))

    assert statuses_in_stripe(sandbox, job_id) == {sent: "void", extra: "paid"}
    assert current_ids(ctx)[job_id] == extra
    assert job_invoice(ctx, job_id=job_id, actor=SYSTEM) is not None
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_the_marker_follows_every_copy_written_and_a_deleted_draft(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id = job_for(ctx, market)
    assert job_id not in current_ids(ctx)
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=3)
    failed = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert failed.error is not None and failed.error.step == "send"
    draft_or_open = current_ids(ctx)[job_id]  # known locally before the send failed

    invoice = send_invoice(ctx, job_id=job_id, actor=market.provider)  # the retry
    assert invoice.invoice_id == draft_or_open
    assert current_ids(ctx)[job_id] == draft_or_open

    forget_invoice_now(ctx.sessions, draft_or_open)
    assert job_id not in current_ids(ctx)


def test_aging_counts_a_job_by_its_current_invoice_once(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, _ = invoiced_job(ctx, market)
    second_invoice(ctx, sandbox, job_id)
    job_invoice(ctx, job_id=job_id, actor=SYSTEM)  # our copies now hold both

    with session_scope(ctx.sessions) as session:
        _, details = receivables_aging(session, actor=ADMIN)
    assert [(d.job_id, d.bucket) for d in details] == [(job_id, "not yet due")]
    due = details[0].due_date
    assert due is not None
    with session_scope(ctx.sessions) as session:
        _, late = receivables_aging(session, actor=ADMIN, now=due + timedelta(days=2, hours=1))
    # Two days and an hour past due: the third day begun.
    assert [(d.job_id, d.bucket, d.days_past_due) for d in late] == [(job_id, "1-7 days late", 3)]


def test_another_customers_paid_invoice_naming_the_job_never_becomes_its_invoice(
    ctx: AppContext, sandbox: SandboxControl, market: Market, api: TestClient
) -> None:
    """Metadata anyone with access to the Stripe account can edit is not enough: the API's
    refresh from Stripe applies the webhook's cross-checks before taking an invoice in."""
    job_id, sent = invoiced_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        copy = current_copy(session, job_id)
        assert copy is not None and copy.payment_id is not None
        payment_id = copy.payment_id
    mallory = sandbox.client.v1.customers.create(params={"name": "Mallory"}).id
    assert mallory is not None
    forged = invoice_in_stripe(
        sandbox,
        customer=mallory,
        job_id=job_id,
        payment_id=payment_id,
        amount=PRICE,
        finalize=True,
    )
    sandbox.client.v1.invoices.pay(forged, params={"payment_method": "pm_card_visa"})

    assert api_invoice(ctx, api, market, job_id) == sent
    assert dashboard_invoice(ctx, market, job_id) == sent
    with session_scope(ctx.sessions) as session:
        assert session.get(StripeInvoice, forged) is None
