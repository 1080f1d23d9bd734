"""Reconciliation end to end: every kind of drift made for real, reported, repaired once.

One database and one sandbox. Each drift is produced the way it happens in production:
a webhook lost while our endpoint was gone, invoicing that failed at a Stripe step (a
fault injected in the sandbox, before or after the write), invoices made, voided or left
as drafts directly in Stripe by someone else, and a payment recorded by hand here without
Stripe hearing of it. The report must list exactly those drifts; the repairs must leave
every job as a clean run would have (and write each repair to the audit log); a second
report finds nothing and a second repair pass changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import func, select

from core.billing.payments import credit_payment
from core.billing.reconcile import Drift, drift_report
from core.billing.repairs import repair, repair_all
from core.billing.webhooks import subscribed_event_types
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Base,
    Job,
    Notification,
    Payment,
    ServiceProvider,
    StripeEvent,
    utcnow,
)
from core.db.session import session_scope
from core.errors import Forbidden, InvalidInput
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.jobs.timeline import job_timeline
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, invoice_in_stripe, invoiced_job, job_for
from tests.support.sandbox import SandboxControl

PRICE = 15000
WRONG_AMOUNT = 9900
SDK_ATTEMPTS = 3  # the gateway's SDK client: one call plus two network retries
ADMIN = Actor("admin", 7)
REASON = "nightly reconciliation after the webhook outage"
Snapshot = dict[str, list[tuple[Any, ...]]]


# Making jobs and drift, for real


def clear_faults(sandbox: SandboxControl) -> None:
    sandbox.http.delete("/_sandbox/faults").raise_for_status()


def failed_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, path: str, when: str, step: str
) -> int:
    """A completed job whose invoicing failed at `step` (every SDK attempt faulted)."""
    job_id = job_for(ctx, market)
    sandbox.fault(path, method="POST", status=500, count=SDK_ATTEMPTS, when=when)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    clear_faults(sandbox)
    assert result.error is not None and result.error.step == step, result.error
    return job_id


def payment_id_of(ctx: AppContext, job_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalars(select(Payment.id).where(Payment.job_id == job_id)).one())


def stop_webhooks(sandbox: SandboxControl) -> None:
    """Our endpoint disappears from Stripe: events from now on reach nobody."""
    assert sandbox.drain() == 0
    for endpoint in sandbox.client.v1.webhook_endpoints.list(params={"limit": 100}).data:
        sandbox.client.v1.webhook_endpoints.delete(endpoint.id)


def restart_webhooks(ctx: AppContext, live_service: LiveService) -> None:
    secret = ctx.gateway.replace_webhook_endpoint(
        live_service.webhook_url, subscribed_event_types()
    )
    ctx.settings.stripe_webhook_secret = SecretStr(secret)


# Reading both sides


def invoices_of(sandbox: SandboxControl, job_id: int) -> list[dict[str, Any]]:
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    found = [invoice.to_dict() for invoice in listing.auto_paging_iter()]
    return [i for i in found if (i.get("metadata") or {}).get("job_id") == str(job_id)]


def by_status(invoices: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(invoice["status"]) for invoice in invoices)


def job_state(ctx: AppContext, job_id: int) -> tuple[str, str, str | None, int]:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        assert job is not None
        return job.status, payment.status, payment.method, payment.amount


def notification_kinds(ctx: AppContext, job_id: int) -> Counter[str]:
    with session_scope(ctx.sessions) as session:
        kinds = session.scalars(select(Notification.kind).where(Notification.job_id == job_id))
        return Counter(kinds)


def snapshot(ctx: AppContext, skip: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> Snapshot:
    """Every row of every table (minus `skip` tables and `drop` columns), by primary key."""
    tables: Snapshot = {}
    with ctx.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            columns = [column for column in table.columns if column.name not in drop]
            query = select(*columns).order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in connection.execute(query)]
    return tables


def without_drift_checks(tables: Snapshot) -> Snapshot:
    """The snapshot minus the audit log's records of drift checks (`drift.check`)."""
    action = [c.name for c in AuditLog.__table__.columns].index("action")
    kept = [row for row in tables["audit_log"] if row[action] != "drift.check"]
    return {**tables, "audit_log": kept}


def pairs(drifts: list[Drift]) -> list[tuple[str, int]]:
    return sorted((drift.kind, drift.job_id) for drift in drifts)


# The scenario


@dataclass(frozen=True)
class Scenario:
    clean_paid: int
    clean_open: int
    missed: int
    missed_invoice: str
    missing: int
    crashed: int
    crashed_draft: str
    duplicate: int
    duplicate_ids: tuple[str, str]
    wrong_amount: int
    wrong_invoice: str
    closed: int
    closed_invoice: str
    manual: int
    manual_invoice: str
    stale: int
    stale_draft: str

    @property
    def paid(self) -> dict[int, str]:
        """Paid jobs and the method each was paid by."""
        return {self.clean_paid: "stripe", self.missed: "stripe", self.manual: "manual"}

    @property
    def owed(self) -> list[int]:
        return [
            self.clean_open,
            self.missing,
            self.crashed,
            self.duplicate,
            self.wrong_amount,
            self.closed,
            self.stale,
        ]

    @property
    def expected(self) -> list[tuple[str, int]]:
        return sorted(
            [
                ("missed_payment", self.missed),
                ("missing_invoice", self.missing),
                ("missing_invoice", self.crashed),
                ("duplicate_invoices", self.duplicate),
                ("amount_mismatch", self.wrong_amount),
                ("closed_in_stripe", self.closed),
                ("paid_here_not_in_stripe", self.manual),
                ("stale_draft", self.stale),
            ]
        )


def make_every_drift(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> Scenario:
    # Two jobs that went through the clean flow: paid by webhook, and still owed.
    clean_paid, paid_invoice = invoiced_job(ctx, market)
    ctx.gateway.pay_test_invoice(paid_invoice, card="visa")
    clean_open, open_invoice = invoiced_job(ctx, market)
    customer = str(sandbox.client.v1.invoices.retrieve(open_invoice).customer)

    # missed_payment: paid while our webhook endpoint was gone from Stripe.
    missed, missed_invoice = invoiced_job(ctx, market)
    stop_webhooks(sandbox)
    ctx.gateway.pay_test_invoice(missed_invoice, card="visa")
    restart_webhooks(ctx, live_service)

    # missing_invoice: invoice create failed, nothing was made in Stripe.
    missing = failed_job(ctx, sandbox, market, "/v1/invoices", "before", "invoice_create")
    assert invoices_of(sandbox, missing) == []

    # missing_invoice with a draft: the line was added, then the answer was lost.
    crashed = failed_job(ctx, sandbox, market, "/v1/invoiceitems", "after", "item_create")
    [draft] = invoices_of(sandbox, crashed)
    assert draft["status"] == "draft" and draft["amount_due"] == PRICE

    # duplicate_invoices: someone made and finalized a second invoice for the job.
    duplicate, first = invoiced_job(ctx, market)
    second = invoice_in_stripe(
        sandbox,
        customer=customer,
        job_id=duplicate,
        payment_id=payment_id_of(ctx, duplicate),
        amount=PRICE,
        finalize=True,
    )

    # amount_mismatch: invoicing failed, then the invoice was made in Stripe by hand, wrong.
    wrong_amount = failed_job(ctx, sandbox, market, "/v1/invoices", "before", "invoice_create")
    wrong_invoice = invoice_in_stripe(
        sandbox,
        customer=customer,
        job_id=wrong_amount,
        payment_id=payment_id_of(ctx, wrong_amount),
        amount=WRONG_AMOUNT,
        finalize=True,
    )

    # closed_in_stripe: the job's only invoice was voided in Stripe.
    closed, closed_invoice = invoiced_job(ctx, market)
    sandbox.client.v1.invoices.void_invoice(closed_invoice)

    # paid_here_not_in_stripe: cash recorded here (method manual); Stripe still has it open.
    manual, manual_invoice = invoiced_job(ctx, market)
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, manual)
        payment = session.scalars(select(Payment).where(Payment.job_id == manual)).one()
        assert job is not None
        assert credit_payment(session, job, payment, paid_at=utcnow(), method="manual")

    # stale_draft: an abandoned draft from two hours ago next to the job's open invoice.
    stale, _ = invoiced_job(ctx, market)
    sandbox.advance_clock(-2 * 3600)
    stale_draft = invoice_in_stripe(
        sandbox,
        customer=customer,
        job_id=stale,
        payment_id=payment_id_of(ctx, stale),
        amount=None,
        finalize=False,
    )
    sandbox.advance_clock(2 * 3600)

    assert sandbox.drain() == 0
    return Scenario(
        clean_paid=clean_paid,
        clean_open=clean_open,
        missed=missed,
        missed_invoice=missed_invoice,
        missing=missing,
        crashed=crashed,
        crashed_draft=str(draft["id"]),
        duplicate=duplicate,
        duplicate_ids=(first, second),
        wrong_amount=wrong_amount,
        wrong_invoice=wrong_invoice,
        closed=closed,
        closed_invoice=closed_invoice,
        manual=manual,
        manual_invoice=manual_invoice,
        stale=stale,
        stale_draft=stale_draft,
    )


def test_every_kind_of_drift_is_reported_then_repaired_to_a_clean_state(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    s = make_every_drift(ctx, sandbox, live_service, market)
    # The drift is real: the missed payment and the manual one disagree across the sides.
    assert job_state(ctx, s.missed)[:2] == ("completed", "pending")
    assert sandbox.client.v1.invoices.retrieve(s.missed_invoice).status == "paid"
    assert job_state(ctx, s.manual) == ("paid", "received", "manual", PRICE)
    assert sandbox.client.v1.invoices.retrieve(s.manual_invoice).status == "open"

    with pytest.raises(Forbidden):
        drift_report(ctx, actor=market.provider)
    untouched = snapshot(ctx)
    report = drift_report(ctx, actor=ADMIN)
    assert snapshot(ctx) == untouched  # the report only reads
    assert pairs(report.drifts) == s.expected
    assert report.jobs_checked == 10
    drifts = {(drift.kind, drift.job_id): drift for drift in report.drifts}
    assert all(drift.repairable for drift in report.drifts)
    assert drifts["missed_payment", s.missed].invoice_ids == (s.missed_invoice,)
    assert drifts["missing_invoice", s.missing].invoice_ids == ()
    assert drifts["missing_invoice", s.crashed].invoice_ids == (s.crashed_draft,)
    [extra] = drifts["duplicate_invoices", s.duplicate].invoice_ids
    assert extra in s.duplicate_ids
    assert drifts["amount_mismatch", s.wrong_amount].invoice_ids == (s.wrong_invoice,)
    assert drifts["closed_in_stripe", s.closed].invoice_ids == (s.closed_invoice,)
    assert drifts["paid_here_not_in_stripe", s.manual].invoice_ids == (s.manual_invoice,)
    assert drifts["stale_draft", s.stale].invoice_ids == (s.stale_draft,)

    # A repair needs a reason and staff; refused, it changes nothing.
    with pytest.raises(InvalidInput):
        repair(ctx, drifts["missed_payment", s.missed], actor=ADMIN, reason="  ")
    with pytest.raises(Forbidden):
        repair(ctx, drifts["missed_payment", s.missed], actor=market.provider, reason=REASON)
    assert snapshot(ctx) == untouched

    progress: list[tuple[int, int]] = []
    results = repair_all(
        ctx, report, actor=ADMIN, reason=REASON, progress=lambda i, n: progress.append((i, n))
    )
    assert [(r.ok, r.message) for r in results if not r.ok] == []
    assert progress == [(i, len(report.drifts)) for i in range(1, len(report.drifts) + 1)]
    assert sandbox.drain() == 0

    # Paid jobs: paid once, by the right method, with exactly one paid invoice in Stripe.
    for job_id, method in s.paid.items():
        assert job_state(ctx, job_id) == ("paid", "received", method, PRICE)
        assert by_status(invoices_of(sandbox, job_id)) == {"paid": 1}, job_id
        kinds = notification_kinds(ctx, job_id)
        assert (kinds["payment_confirmed"], kinds["payment_received"]) == (1, 1), job_id
    manual_invoice = sandbox.client.v1.invoices.retrieve(s.manual_invoice)
    assert manual_invoice.status == "paid" and manual_invoice.amount_paid == PRICE

    # Owed jobs: exactly one open invoice for the right amount; extras void; no drafts.
    for job_id in s.owed:
        assert job_state(ctx, job_id) == ("completed", "pending", None, PRICE)
        invoices = invoices_of(sandbox, job_id)
        live = [i for i in invoices if i["status"] in ("open", "paid")]
        assert [(i["status"], i["amount_due"]) for i in live] == [("open", PRICE)], job_id
        assert set(by_status(invoices)) <= {"open", "void"}, job_id
        kinds = notification_kinds(ctx, job_id)
        assert kinds["payment_confirmed"] == kinds["payment_received"] == 0
    # The crashed job's own draft was finished (one line), not replaced by a second invoice.
    [finished] = invoices_of(sandbox, s.crashed)
    assert finished["id"] == s.crashed_draft and finished["status"] == "open"
    assert len(finished["lines"]["data"]) == 1
    assert by_status(invoices_of(sandbox, s.duplicate)) == {"open": 1, "void": 1}
    assert sandbox.client.v1.invoices.retrieve(extra).status == "void"
    assert sandbox.client.v1.invoices.retrieve(s.wrong_invoice).status == "void"
    assert sandbox.client.v1.invoices.retrieve(s.closed_invoice).status == "void"
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.invoices.retrieve(s.stale_draft)  # deleted
    assert by_status(invoices_of(sandbox, s.stale)) == {"open": 1}

    # Money adds up: earnings equal the received payments, counted once.
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []
        provider = session.get(ServiceProvider, market.provider_id)
        assert provider is not None
        assert (provider.earnings, provider.total_jobs) == (3 * PRICE, 3)

    # Each repair is in the audit log: who, when, what, why, before, after, result.
    with session_scope(ctx.sessions) as session:
        entries = list(session.scalars(select(AuditLog).where(AuditLog.action.like("reconcile.%"))))
        assert sorted((e.action.removeprefix("reconcile."), e.job_id) for e in entries) == (
            s.expected
        )
        for entry in entries:
            assert entry.job_id is not None
            drift = drifts[entry.action.removeprefix("reconcile."), entry.job_id]
            assert (entry.actor, entry.reason, entry.result, entry.error) == (
                "admin:7",
                REASON,
                "ok",
                None,
            )
            assert entry.created_at is not None
            assert entry.before == {"ours": drift.ours, "stripe": drift.stripes}
            assert entry.after is not None and entry.after.get("done")

    # Each job's timeline shows its repair.
    with session_scope(ctx.sessions) as session:
        for kind, job_id in s.expected:
            whats = [e.what for e in job_timeline(session, job_id=job_id, actor=ADMIN)]
            assert f"Reconciled: {kind.replace('_', ' ')}" in whats, (kind, whats)

    # A second report finds nothing, and a second pass changes no row.
    settled = snapshot(ctx)
    again = drift_report(ctx, actor=ADMIN)
    assert again.drifts == []
    assert repair_all(ctx, again, actor=ADMIN, reason=REASON) == []
    assert sandbox.drain() == 0
    assert snapshot(ctx) == settled


def test_repeating_every_repair_changes_nothing_more(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """Repairs are safe to run twice (a crash mid-way, two admins clicking at once)."""
    s = make_every_drift(ctx, sandbox, live_service, market)
    report = drift_report(ctx, actor=ADMIN)
    assert pairs(report.drifts) == s.expected
    first = repair_all(ctx, report, actor=ADMIN, reason=REASON)
    assert all(result.ok for result in first)
    assert sandbox.drain() == 0
    stripe_side = {job: by_status(invoices_of(sandbox, job)) for job in [*s.paid, *s.owed]}
    # The audit log grows and the invoice mirror's updated_at moves; nothing else may.
    ours = snapshot(ctx, skip=("audit_log",), drop=("updated_at",))

    with session_scope(ctx.sessions) as session:
        last_before = session.scalar(select(func.max(AuditLog.id))) or 0
    second = repair_all(ctx, report, actor=ADMIN, reason=REASON)
    assert sandbox.drain() == 0
    assert snapshot(ctx, skip=("audit_log",), drop=("updated_at",)) == ours
    assert {job: by_status(invoices_of(sandbox, job)) for job in stripe_side} == stripe_side
    assert drift_report(ctx, actor=ADMIN).drifts == []
    # ... and each says it holds: a repair already done is done, not "failed".
    assert [(r.drift.kind, r.message) for r in second if not r.ok] == []
    with session_scope(ctx.sessions) as session:
        failed = session.scalars(
            select(AuditLog.action).where(AuditLog.result != "ok", AuditLog.id > last_before)
        ).all()
    assert failed == []  # the second pass (the setup's failed invoicing is older)


def test_a_duplicate_made_in_the_same_second_is_voided_not_the_invoice_the_customer_got(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    """Stripe's `created` has one-second resolution: two invoices made within a second tie,
    and the repair must still keep the one we sent (the customer's email links to it)."""
    customer = sandbox.client.v1.customers.create(
        params={"name": "Ann Lee", "metadata": {"user_id": str(market.customer_id)}}
    ).id
    assert customer is not None
    job_id = job_for(ctx, market)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    ours = result.invoice.invoice_id
    # The clock held at the second ours was made in while theirs is made: on a loaded
    # machine invoicing alone can take longer than a second.
    made = {i["id"]: i["created"] for i in invoices_of(sandbox, job_id)}[ours]
    sandbox.hold_clock(made)
    theirs = invoice_in_stripe(
        sandbox,
        customer=customer,
        job_id=job_id,
        payment_id=payment_id_of(ctx, job_id),
        amount=PRICE,
        finalize=True,
    )
    created = {i["id"]: i["created"] for i in invoices_of(sandbox, job_id)}
    assert created[ours] == created[theirs], "the two invoices were meant to share a second"
    assert sandbox.drain() == 0
    with session_scope(ctx.sessions) as session:
        sent = session.scalars(
            select(StripeEvent.object_id).where(
                StripeEvent.job_id == job_id, StripeEvent.type == "invoice.sent"
            )
        ).all()
    assert sent == [ours]

    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("duplicate_invoices", job_id)]
    assert report.drifts[0].invoice_ids == (theirs,)
    assert all(r.ok for r in repair_all(ctx, report, actor=ADMIN, reason=REASON))
    statuses = {i["id"]: i["status"] for i in invoices_of(sandbox, job_id)}
    assert statuses == {ours: "open", theirs: "void"}


# The CLI


def test_cli_reconcile_exits_3_on_drift_and_apply_repairs_it(
    ctx: AppContext, sandbox: SandboxControl, market: Market, reconcile_cli: Any
) -> None:
    cli = reconcile_cli
    # No webhook endpoint is registered: the payment's invoice.paid reaches nobody.
    missed, missed_invoice = invoiced_job(ctx, market)
    ctx.gateway.pay_test_invoice(missed_invoice, card="visa")
    missing = failed_job(ctx, sandbox, market, "/v1/invoices", "before", "invoice_create")
    fine, _ = invoiced_job(ctx, market)
    untouched = snapshot(ctx)

    run = cli("reconcile", "--json")
    assert run.code == 3, run.err
    assert run.data["jobs_checked"] == 3 and run.data["repairs"] == []
    assert sorted((d["kind"], d["job_id"]) for d in run.data["drift"]) == [
        ("missed_payment", missed),
        ("missing_invoice", missing),
    ]
    [paid] = [d for d in run.data["drift"] if d["kind"] == "missed_payment"]
    assert paid["invoices"] == [missed_invoice] and paid["repairable"] is True
    # Without --apply nothing is changed; the audit log keeps that a check ran (for the
    # overview's drift tile) and nothing else.
    assert without_drift_checks(snapshot(ctx)) == without_drift_checks(untouched)
    recent = cli("reconcile", "--since", "1h", "--json")
    assert recent.code == 3 and recent.data["since"] is not None
    assert sorted((d["kind"], d["job_id"]) for d in recent.data["drift"]) == [
        ("missed_payment", missed),
        ("missing_invoice", missing),
    ]
    bad = cli("reconcile", "--since", "last tuesday")
    assert bad.code == 1 and "7d, 24h, 30m" in bad.err and "Traceback" not in bad.err
    assert without_drift_checks(snapshot(ctx)) == without_drift_checks(untouched)

    run = cli("reconcile", "--apply", "--reason", "cli run after the outage", "--json")
    assert run.code == 0, run.err
    assert run.data["drift"] == []
    assert sorted((r["kind"], r["job_id"], r["ok"]) for r in run.data["repairs"]) == [
        ("missed_payment", missed, True),
        ("missing_invoice", missing, True),
    ]
    assert job_state(ctx, missed) == ("paid", "received", "stripe", PRICE)
    assert [i["status"] for i in invoices_of(sandbox, missing)] == ["open"]
    assert job_state(ctx, fine) == ("completed", "pending", None, PRICE)
    with session_scope(ctx.sessions) as session:
        assert ledger_mismatches(session) == []
        audited = session.execute(
            select(AuditLog.action, AuditLog.job_id, AuditLog.actor, AuditLog.reason).where(
                AuditLog.action.like("reconcile.%")
            )
        ).all()
    assert sorted(tuple(row) for row in audited) == [
        ("reconcile.missed_payment", missed, "system", "cli run after the outage"),
        ("reconcile.missing_invoice", missing, "system", "cli run after the outage"),
    ]

    settled = snapshot(ctx)
    run = cli("reconcile", "--apply", "--json")
    assert (run.code, run.data["drift"], run.data["repairs"]) == (0, [], [])
    text = cli("reconcile")
    assert text.code == 0 and "No drift." in text.data
    assert without_drift_checks(snapshot(ctx)) == without_drift_checks(settled)
