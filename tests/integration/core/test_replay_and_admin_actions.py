"""Event replay after downtime, the admin's manual payment and void-and-reissue, and the
drift report's cost in Stripe calls; against the real sandbox and the live webhook service.

Downtime is real: our endpoint is replaced in Stripe by one on a closed port, so the
sandbox tries each event, fails, retries and gives up, as Stripe would.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

import core.billing.admin_actions
import core.billing.webhooks
from core.billing.admin_actions import record_manual_payment, void_and_reissue
from core.billing.customers import remember_stripe_customer
from core.billing.invoice_copies import remember_invoice, remember_invoice_now
from core.billing.reconcile import drift_report
from core.billing.repairs import repair_all
from core.billing.replay import SAFETY_MARGIN, replay_cursor, replay_events
from core.billing.stripe_objects import InvoiceInfo
from core.billing.webhooks import process_event, subscribed_event_types
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Base,
    Customer,
    Job,
    Notification,
    Payment,
    ServiceProvider,
    StripeEvent,
    utcnow,
)
from core.db.session import session_scope
from core.errors import CardDeclined, Conflict, Forbidden, InvalidInput, InvoicingFailed
from core.identity.actor import SYSTEM, Actor
from core.jobs.lifecycle import complete_job
from core.jobs.timeline import job_timeline
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, job_for
from tests.support.sandbox import SandboxControl, free_port

PRICE = 15000
NEW_PRICE = 17250
SDK_ATTEMPTS = 3  # the gateway's SDK client: one call plus two network retries
ADMIN = Actor("admin", 1)
Snapshot = dict[str, list[tuple[Any, ...]]]


def invoiced_job(ctx: AppContext, market: Market, price: int = PRICE) -> tuple[int, str]:
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.error is None and result.invoice is not None
    assert result.invoice.status == "open"
    return job_id, result.invoice.invoice_id


@contextmanager
def webhooks_down(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> Iterator[None]:
    """Our endpoint is replaced by one on a closed port; every delivery fails and is
    given up after the sandbox's retries. Afterwards the live service is registered again."""
    assert sandbox.drain() == 0
    for endpoint in sandbox.client.v1.webhook_endpoints.list(params={"limit": 100}).data:
        sandbox.client.v1.webhook_endpoints.delete(endpoint.id)
    dead = sandbox.client.v1.webhook_endpoints.create(
        params={
            "url": f"http://127.0.0.1:{free_port()}/payments/stripe/webhook",
            "enabled_events": subscribed_event_types(),  # type: ignore[typeddict-item]
        }
    )
    yield
    assert sandbox.drain() == 0  # every retry to the closed port has failed
    sandbox.client.v1.webhook_endpoints.delete(str(dead.id))
    secret = ctx.gateway.replace_webhook_endpoint(
        live_service.webhook_url, subscribed_event_types()
    )
    ctx.settings.stripe_webhook_secret = SecretStr(secret)


@contextmanager
def webhooks_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Our service takes deliveries in but handles each only once released (a slow
    receiver), so an event is certain to be handled after what the test does meanwhile."""
    release = threading.Event()
    handle = process_event  # what the route calls

    def held(sessions: Any, event: Any, **options: Any) -> Any:
        release.wait(timeout=20)
        return handle(sessions, event, **options)

    monkeypatch.setattr(core.billing.webhooks, "process_event", held)
    try:
        yield release
    finally:
        release.set()


def job_state(ctx: AppContext, job_id: int) -> dict[str, Any]:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        assert job is not None
        return {
            "job": job.status,
            "price": job.price,
            "paid_at": job.paid_at,
            "payment": payment.status,
            "amount": payment.amount,
            "method": payment.method,
            "marked_at": payment.marked_at,
        }


def notification_kinds(ctx: AppContext, job_id: int) -> Counter[str]:
    with session_scope(ctx.sessions) as session:
        return Counter(
            session.scalars(select(Notification.kind).where(Notification.job_id == job_id))
        )


def provider_totals(ctx: AppContext, provider_id: int) -> tuple[int, int]:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        assert ledger_mismatches(session) == []
        return provider.earnings, provider.total_jobs


def invoices_of(sandbox: SandboxControl, job_id: int) -> list[dict[str, Any]]:
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    found = [invoice.to_dict() for invoice in listing.auto_paging_iter()]
    return [i for i in found if (i.get("metadata") or {}).get("job_id") == str(job_id)]


def stripe_paid_at(sandbox: SandboxControl, invoice_id: str) -> datetime:
    paid_at = sandbox.client.v1.invoices.retrieve(invoice_id).to_dict()["status_transitions"][
        "paid_at"
    ]
    return datetime.fromtimestamp(int(paid_at), UTC)


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


def state_of_record(ctx: AppContext, skip: tuple[str, ...] = ()) -> Snapshot:
    """Every row, except the invoice mirror's refresh time: reading the job's invoice from
    Stripe (as a preview does) re-copies it, unchanged, into the mirror."""
    return snapshot(ctx, skip=skip, drop=("updated_at",))


def audit_rows(ctx: AppContext, job_id: int, action: str) -> list[AuditLog]:
    with session_scope(ctx.sessions) as session:
        return list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.job_id == job_id, AuditLog.action == action)
                .order_by(AuditLog.id)
            )
        )


def timeline_whats(ctx: AppContext, job_id: int) -> list[str]:
    with session_scope(ctx.sessions) as session:
        return [entry.what for entry in job_timeline(session, job_id=job_id, actor=ADMIN)]


# Replay after downtime


def test_replay_after_downtime_restores_a_clean_run_and_replaying_again_changes_nothing(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    # With nothing handled yet, the cursor looks back as far as Stripe retries (3 days).
    moment = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert replay_cursor(ctx, now=moment) == moment - timedelta(days=3)
    started = utcnow() - timedelta(seconds=2)

    # The reference: a job paid while the service was up.
    reference, reference_invoice = invoiced_job(ctx, market)
    assert sandbox.drain() == 0  # invoice.sent first: a customer who paid is not asked to
    ctx.gateway.pay_test_invoice(reference_invoice, card="visa")
    first, first_invoice = invoiced_job(ctx, market)
    second, second_invoice = invoiced_job(ctx, market)
    declined, declined_invoice = invoiced_job(ctx, market)
    assert sandbox.drain() == 0
    clean = job_state(ctx, reference)
    assert (clean["job"], clean["payment"], clean["method"]) == ("paid", "received", "stripe")
    assert clean["paid_at"] == clean["marked_at"] == stripe_paid_at(sandbox, reference_invoice)

    with webhooks_down(ctx, sandbox, live_service):
        ctx.gateway.pay_test_invoice(first_invoice, card="visa")
        ctx.gateway.pay_test_invoice(second_invoice, card="visa")
        with pytest.raises(CardDeclined):
            ctx.gateway.pay_test_invoice(declined_invoice, card="declined")
    failed_deliveries = [a for a in sandbox.deliveries() if a["status"] is None]
    assert failed_deliveries, "the deliveries to the closed port were tried and failed"
    # Lost: nothing changed here.
    for job_id in (first, second, declined):
        assert job_state(ctx, job_id)["payment"] == "pending"
    assert notification_kinds(ctx, declined) == {"invoice_sent": 1}
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)

    with pytest.raises(Forbidden):
        replay_events(ctx, actor=market.provider, since=started)
    result = replay_events(ctx, actor=SYSTEM, since=started)
    assert result.since == started
    # Handled live before: 4 events of the reference job, finalized + sent of the other three.
    # Lost: two paid (+ two payment_succeeded that find them paid, and the two payments'
    # links to their invoices), one payment_failed.
    assert result.outcomes == {
        "duplicate": 11,
        "applied": 2,
        "already_applied": 2,
        "recorded": 2,
        "customer_notified": 1,
    }
    assert result.events == 18

    # The exact state of a clean run: paid once, at Stripe's paid_at, both sides told once.
    for job_id, invoice_id in ((first, first_invoice), (second, second_invoice)):
        state = job_state(ctx, job_id)
        paid_at = stripe_paid_at(sandbox, invoice_id)
        assert state == {**clean, "paid_at": paid_at, "marked_at": paid_at}
        assert notification_kinds(ctx, job_id) == notification_kinds(ctx, reference)
    assert notification_kinds(ctx, reference) == {
        "invoice_sent": 1,
        "payment_confirmed": 1,
        "payment_received": 1,
    }
    assert job_state(ctx, declined)["payment"] == "pending"
    assert notification_kinds(ctx, declined) == {"invoice_sent": 1, "payment_failed": 1}
    assert provider_totals(ctx, market.provider_id) == (3 * PRICE, 3)
    with session_scope(ctx.sessions) as session:
        unhandled = session.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.handled_at.is_(None))
        )
        assert unhandled == 0

    # Replaying the same window again changes nothing.
    settled = snapshot(ctx)
    again = replay_events(ctx, actor=SYSTEM, since=started)
    assert again.outcomes == {"duplicate": 18}
    assert snapshot(ctx) == settled

    # A second outage; replay with no `since` starts at the newest handled event minus
    # ten minutes, which covers what was lost.
    with webhooks_down(ctx, sandbox, live_service):
        ctx.gateway.pay_test_invoice(declined_invoice, card="visa")
    assert job_state(ctx, declined)["payment"] == "pending"
    with session_scope(ctx.sessions) as session:
        newest = session.scalar(
            select(func.max(StripeEvent.created)).where(StripeEvent.handled_at.is_not(None))
        )
    assert newest is not None
    result = replay_events(ctx, actor=SYSTEM)
    assert result.since == newest - SAFETY_MARGIN
    assert (result.outcomes["applied"], result.outcomes["already_applied"]) == (1, 1)
    assert result.outcomes["recorded"] == 1  # the payment's link to its invoice
    assert set(result.outcomes) == {"duplicate", "applied", "already_applied", "recorded"}
    paid_at = stripe_paid_at(sandbox, declined_invoice)
    assert job_state(ctx, declined) == {**clean, "paid_at": paid_at, "marked_at": paid_at}
    assert notification_kinds(ctx, declined) == {
        "invoice_sent": 1,
        "payment_failed": 1,
        "payment_confirmed": 1,
        "payment_received": 1,
    }
    assert provider_totals(ctx, market.provider_id) == (4 * PRICE, 4)
    settled = snapshot(ctx)
    assert set(replay_events(ctx, actor=SYSTEM).outcomes) == {"duplicate"}
    assert snapshot(ctx) == settled


# Manual payment


def test_manual_payment_previews_then_records_once_and_marks_the_invoice_paid_in_stripe(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    assert sandbox.drain() == 0
    untouched = state_of_record(ctx)
    pending = {
        "job_status": "completed",
        "price": PRICE,
        "payment_status": "pending",
        "payment_amount": PRICE,
        "method": None,
    }

    preview = record_manual_payment(
        ctx, job_id=job_id, actor=ADMIN, reason="paid cash on site", preview=True
    )
    assert preview.applied is False
    assert preview.before == pending
    assert preview.after == {
        **pending,
        "job_status": "paid",
        "payment_status": "received",
        "method": "manual",
        "invoice": f"{invoice_id} marked paid outside Stripe",
    }
    # Refused: no reason, not an admin. None of it changes anything.
    with pytest.raises(InvalidInput):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="")
    with pytest.raises(InvalidInput):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="   ")
    for outsider in (market.provider, Actor("finance", 3), Actor("customer", market.customer_id)):
        with pytest.raises(Forbidden):
            record_manual_payment(ctx, job_id=job_id, actor=outsider, reason="cash")
    assert sandbox.drain() == 0
    assert state_of_record(ctx) == untouched
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "open"

    before_apply = utcnow()
    with webhooks_held(monkeypatch) as release:
        done = record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="paid cash on site")
        assert done.applied is True
        assert (
            done.message
            == f"Payment recorded. Invoice {invoice_id} was marked paid outside Stripe."
        )
        state = job_state(ctx, job_id)
        assert (state["job"], state["payment"], state["method"], state["amount"]) == (
            "paid",
            "received",
            "manual",
            PRICE,
        )
        assert state["marked_at"] is not None and state["marked_at"] >= before_apply
        assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
        invoice = sandbox.client.v1.invoices.retrieve(invoice_id)
        assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == (
            "paid",
            PRICE,
            0,
        )
        # Stripe's invoice.paid for the out-of-band payment arrives after, changing nothing.
        release.set()
        assert sandbox.drain() == 0
    with session_scope(ctx.sessions) as session:
        outcomes = session.execute(
            select(StripeEvent.type, StripeEvent.outcome).where(
                StripeEvent.job_id == job_id, StripeEvent.type == "invoice.paid"
            )
        ).all()
    assert [tuple(row) for row in outcomes] == [("invoice.paid", "already_applied")]
    state = job_state(ctx, job_id)
    assert (state["payment"], state["method"]) == ("received", "manual")
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
    assert notification_kinds(ctx, job_id) == {
        "invoice_sent": 1,
        "payment_confirmed": 1,
        "payment_received": 1,
    }
    # Both sides agree: the reconciliation finds nothing.
    assert drift_report(ctx, actor=ADMIN).drifts == []

    # A paid job cannot be marked paid again.
    settled = state_of_record(ctx)
    with pytest.raises(Conflict):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="paid twice?")
    assert state_of_record(ctx) == settled

    # The audit row: who, when, what, which job, why, before, after, result.
    [entry] = audit_rows(ctx, job_id, "payment.manual")
    assert (entry.actor, entry.reason, entry.result, entry.error) == (
        "admin:1",
        "paid cash on site",
        "ok",
        None,
    )
    assert entry.created_at >= before_apply
    assert entry.before == pending
    assert entry.after == {
        **pending,
        "job_status": "paid",
        "payment_status": "received",
        "method": "manual",
    }
    assert "Payment recorded by hand" in timeline_whats(ctx, job_id)


def test_a_manual_payment_stays_manual_when_stripes_invoice_paid_is_handled_first(
    ctx: AppContext,
    sandbox: SandboxControl,
    live_service: LiveService,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The out-of-band invoice.paid can reach the service while the action is still at
    work (a slow database, a busy process): the cash payment must still be recorded as
    manual, once, and the action must say it recorded it."""
    job_id, _ = invoiced_job(ctx, market)
    assert sandbox.drain() == 0

    def slow_copy(sessions: Any, info: Any) -> None:
        remember_invoice_now(sessions, info)
        assert sandbox.drain() == 0  # meanwhile the webhook is delivered and handled

    monkeypatch.setattr(core.billing.admin_actions, "remember_invoice_now", slow_copy)
    done = record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cash")
    assert sandbox.drain() == 0
    # Exactly once still holds ...
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
    kinds = notification_kinds(ctx, job_id)
    assert (kinds["payment_confirmed"], kinds["payment_received"]) == (1, 1)
    state = job_state(ctx, job_id)
    assert (state["job"], state["payment"]) == ("paid", "received")
    # ... but the cash payment must be on record as manual, and reported as recorded.
    assert state["method"] == "manual"
    assert done.message.startswith("Payment recorded. ")
    [entry] = audit_rows(ctx, job_id, "payment.manual")
    assert entry.after is not None and entry.after["method"] == "manual"


def test_a_manual_payment_that_fails_before_the_credit_changes_nothing(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    untouched = state_of_record(ctx)
    sandbox.fault("/v1/invoices/search", method="GET", status=500, count=SDK_ATTEMPTS)
    with pytest.raises(Exception, match="invoice_search"):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cheque")
    assert state_of_record(ctx) == untouched
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "open"


def test_a_manual_payment_whose_stripe_step_fails_is_kept_and_finished_later(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    """Step one (the credit, its method and its audit row) is done in one transaction;
    when telling Stripe fails after it, running the action again, or reconciliation,
    finishes the job: never a payment half-recorded or recorded twice."""
    job_id, invoice_id = invoiced_job(ctx, market)
    sandbox.fault("/v1/invoices/*/pay", method="POST", status=500, count=SDK_ATTEMPTS)

    done = record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cheque")

    assert done.applied is True and "Stripe has not been told yet" in done.message
    assert done.finished is False
    state = job_state(ctx, job_id)
    assert (state["job"], state["payment"], state["method"]) == ("paid", "received", "manual")
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "open"
    [entry] = audit_rows(ctx, job_id, "payment.manual")
    assert (entry.actor, entry.reason, entry.result) == ("admin:1", "cheque", "ok")
    [stripe_step] = audit_rows(ctx, job_id, "payment.manual.stripe")
    assert stripe_step.result == "failed" and stripe_step.error
    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("paid_here_not_in_stripe", job_id)]

    again = record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cheque")

    assert again.message == (
        f"The payment was already recorded. Invoice {invoice_id} was marked paid outside Stripe."
    )
    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "paid"
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
    assert len(audit_rows(ctx, job_id, "payment.manual")) == 1
    assert drift_report(ctx, actor=ADMIN).drifts == []
    with pytest.raises(Conflict):
        record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cheque")


def test_a_manual_payment_left_half_done_is_finished_by_reconciliation(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    sandbox.fault("/v1/invoices/*/pay", method="POST", status=500, count=SDK_ATTEMPTS)
    record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="cash")

    report = drift_report(ctx, actor=ADMIN)
    assert all(r.ok for r in repair_all(ctx, report, actor=ADMIN, reason="finish it"))

    assert sandbox.client.v1.invoices.retrieve(invoice_id).status == "paid"
    assert job_state(ctx, job_id)["method"] == "manual"
    assert provider_totals(ctx, market.provider_id) == (PRICE, 1)
    assert drift_report(ctx, actor=ADMIN).drifts == []


# Void and re-issue


def test_void_and_reissue_previews_then_corrects_the_amount_and_the_new_invoice_pays_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, old_invoice = invoiced_job(ctx, market)
    assert sandbox.drain() == 0
    untouched = state_of_record(ctx)
    owed = {
        "job_status": "completed",
        "price": PRICE,
        "payment_status": "pending",
        "payment_amount": PRICE,
        "method": None,
    }

    preview = void_and_reissue(
        ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="extra part", preview=True
    )
    assert (preview.applied, preview.before) == (False, owed)
    assert preview.after == {
        **owed,
        "price": NEW_PRICE,
        "payment_amount": NEW_PRICE,
        "invoice": f"void {old_invoice}, send a new one",
    }
    with pytest.raises(InvalidInput):
        void_and_reissue(ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason=" ")
    with pytest.raises(InvalidInput):
        void_and_reissue(ctx, job_id=job_id, new_price=0, actor=ADMIN, reason="free")
    with pytest.raises(Forbidden):
        void_and_reissue(
            ctx, job_id=job_id, new_price=NEW_PRICE, actor=market.provider, reason="more"
        )
    assert sandbox.drain() == 0
    assert state_of_record(ctx) == untouched
    assert [(i["id"], i["status"]) for i in invoices_of(sandbox, job_id)] == [(old_invoice, "open")]

    started = utcnow()
    done = void_and_reissue(
        ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="extra part"
    )
    assert done.applied is True
    assert sandbox.drain() == 0
    invoices = {i["id"]: i for i in invoices_of(sandbox, job_id)}
    assert invoices[old_invoice]["status"] == "void"
    [new_invoice] = [i for i in invoices.values() if i["status"] in ("open", "paid")]
    assert (new_invoice["status"], new_invoice["amount_due"]) == ("open", NEW_PRICE)
    assert [line["amount"] for line in new_invoice["lines"]["data"]] == [NEW_PRICE]
    assert len(invoices) == 2
    state = job_state(ctx, job_id)
    assert (state["job"], state["price"], state["payment"], state["amount"]) == (
        "completed",
        NEW_PRICE,
        "pending",
        NEW_PRICE,
    )
    assert provider_totals(ctx, market.provider_id) == (0, 0)
    assert drift_report(ctx, actor=ADMIN).drifts == []

    [entry] = audit_rows(ctx, job_id, "invoice.reissue")
    assert (entry.actor, entry.reason, entry.result, entry.error) == (
        "admin:1",
        "extra part",
        "ok",
        None,
    )
    assert entry.created_at >= started and entry.before == owed
    assert entry.after == {**owed, "price": NEW_PRICE, "payment_amount": NEW_PRICE}
    sends = [row.after for row in audit_rows(ctx, job_id, "invoice.send")]
    assert sends[-1] is not None and sends[-1]["invoice_id"] == new_invoice["id"]

    # The customer pays the new invoice: credited the new amount, once.
    ctx.gateway.pay_test_invoice(str(new_invoice["id"]), card="visa")
    assert sandbox.drain() == 0
    state = job_state(ctx, job_id)
    assert (state["job"], state["payment"], state["method"], state["amount"]) == (
        "paid",
        "received",
        "stripe",
        NEW_PRICE,
    )
    assert provider_totals(ctx, market.provider_id) == (NEW_PRICE, 1)
    kinds = notification_kinds(ctx, job_id)
    assert (kinds["payment_confirmed"], kinds["payment_received"]) == (1, 1)
    # Replaying every event of the job (voided, sent twice, paid) changes nothing more.
    settled = state_of_record(ctx)
    assert set(replay_events(ctx, actor=SYSTEM, since=started - timedelta(minutes=1)).outcomes) == {
        "duplicate"
    }
    assert state_of_record(ctx) == settled
    with pytest.raises(Conflict):
        void_and_reissue(ctx, job_id=job_id, new_price=PRICE, actor=ADMIN, reason="undo")
    assert state_of_record(ctx) == settled

    whats = timeline_whats(ctx, job_id)
    assert "Invoice voided and re-issued" in whats
    assert "Invoice voided" in whats and "Invoice paid" in whats


def test_a_reissue_that_fails_to_send_is_audited_and_reconciliation_finishes_it(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, old_invoice = invoiced_job(ctx, market)
    sandbox.fault("/v1/invoices", method="POST", status=500, count=SDK_ATTEMPTS)
    with pytest.raises(InvoicingFailed):
        void_and_reissue(ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="typo")
    sandbox.http.delete("/_sandbox/faults").raise_for_status()
    # The void and the new price are done and on record; the send failed and says so.
    [entry] = audit_rows(ctx, job_id, "invoice.reissue")
    assert (entry.actor, entry.reason, entry.result) == ("admin:1", "typo", "ok")
    assert entry.after is not None
    assert (entry.after["price"], entry.after["payment_amount"]) == (NEW_PRICE, NEW_PRICE)
    failed_send = audit_rows(ctx, job_id, "invoice.send")[-1]
    assert failed_send.result == "failed" and failed_send.error
    assert "invoice create" in failed_send.error or "invoice_create" in failed_send.error
    assert "Invoice sent — failed" in timeline_whats(ctx, job_id)
    # Half done: voided, price corrected, nothing live in Stripe. The report sees it...
    assert [i["status"] for i in invoices_of(sandbox, job_id)] == ["void"]
    report = drift_report(ctx, actor=ADMIN)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("closed_in_stripe", job_id)]
    # ... and its repair sends the invoice for the corrected amount.
    assert all(r.ok for r in repair_all(ctx, report, actor=ADMIN, reason="finish reissue"))
    live = [i for i in invoices_of(sandbox, job_id) if i["status"] != "void"]
    assert [(i["status"], i["amount_due"]) for i in live] == [("open", NEW_PRICE)]
    assert old_invoice not in {i["id"] for i in live}
    assert drift_report(ctx, actor=ADMIN).drifts == []


def test_a_reissue_that_fails_at_the_void_changes_nothing(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    job_id, old_invoice = invoiced_job(ctx, market)
    untouched = state_of_record(ctx, skip=("audit_log",))
    sandbox.fault("/v1/invoices/*/void", method="POST", status=500, count=SDK_ATTEMPTS)
    with pytest.raises(Exception, match="void"):
        void_and_reissue(ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="typo")
    assert state_of_record(ctx, skip=("audit_log",)) == untouched
    [entry] = audit_rows(ctx, job_id, "invoice.reissue")
    assert entry.result == "failed"
    assert sandbox.client.v1.invoices.retrieve(old_invoice).status == "open"


def test_a_reissue_interrupted_after_the_void_is_finished_by_running_it_again(
    ctx: AppContext, sandbox: SandboxControl, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the void and the new price: the next attempt sees the void invoice,
    corrects the price and sends the new invoice."""
    job_id, old_invoice = invoiced_job(ctx, market)

    class Crash(Exception):
        pass

    def crash(*_: Any, **__: Any) -> None:
        raise Crash

    monkeypatch.setattr(core.billing.admin_actions, "lock_job", crash)
    with pytest.raises(Crash):
        void_and_reissue(ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="typo")
    monkeypatch.undo()
    assert sandbox.client.v1.invoices.retrieve(old_invoice).status == "void"
    assert job_state(ctx, job_id)["price"] == PRICE

    done = void_and_reissue(ctx, job_id=job_id, new_price=NEW_PRICE, actor=ADMIN, reason="typo")

    assert done.applied is True
    live = [i for i in invoices_of(sandbox, job_id) if i["status"] != "void"]
    assert [(i["status"], i["amount_due"]) for i in live] == [("open", NEW_PRICE)]
    assert job_state(ctx, job_id)["price"] == NEW_PRICE
    assert drift_report(ctx, actor=ADMIN).drifts == []


# The report's cost in Stripe calls


def test_the_report_over_many_jobs_reads_invoices_100_a_page_and_never_searches(
    ctx: AppContext, sandbox: SandboxControl, market: Market
) -> None:
    jobs = 250
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        customer = session.get(Customer, market.customer_id)
        assert customer is not None
        rows = [
            Job(
                customer_id=market.customer_id,
                provider_id=market.provider_id,
                service_id=market.service_id,
                price=PRICE + n,
                status="completed",
                completed_at=now,
            )
            for n in range(jobs + 1)
        ]
        session.add_all(rows)
        session.flush()
        payments = [Payment(job_id=job.id, amount=job.price, status="pending") for job in rows]
        session.add_all(payments)
        session.flush()
        owed = [
            (job.id, payment.id, job.price) for job, payment in zip(rows, payments, strict=True)
        ]
    # Every job but the last has its open invoice, made straight in Stripe to save time.
    stripe_customer = sandbox.client.v1.customers.create(
        params={"name": "Ann Lee", "metadata": {"user_id": str(market.customer_id)}}
    )
    sent: list[InvoiceInfo] = []
    for job_id, payment_id, amount in owed[:-1]:
        metadata = {"job_id": str(job_id), "payment_id": str(payment_id)}
        invoice = sandbox.client.v1.invoices.create(
            params={
                "customer": stripe_customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 7,
                "metadata": metadata,
            }
        )
        assert invoice.id is not None
        sandbox.client.v1.invoice_items.create(
            params={
                "customer": stripe_customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "metadata": metadata,
            }
        )
        finalized = sandbox.client.v1.invoices.finalize_invoice(invoice.id)
        sent.append(InvoiceInfo.from_stripe(finalized))
    # Our records, as invoicing leaves them: the customer's Stripe id and each send.
    with session_scope(ctx.sessions) as session:
        remember_stripe_customer(session, market.customer_id, str(stripe_customer.id))
        for info in sent:
            remember_invoice(session, info, sent_at=now)
    uninvoiced = owed[-1][0]

    before = sandbox.request_counts()
    report = drift_report(ctx, actor=ADMIN)
    after = sandbox.request_counts()
    calls = {route: n - before.get(route, 0) for route, n in after.items()}
    calls = {route: n for route, n in calls.items() if n}

    # Invoices 100 a page, then refunds and disputes (none here) one list each.
    assert calls == {
        "GET /v1/invoices": math.ceil(jobs / 100),
        "GET /v1/refunds": 1,
        "GET /v1/disputes": 1,
    }
    assert not any("search" in route for route in after if after[route] != before.get(route))
    assert (report.jobs_checked, report.invoices_read) == (jobs + 1, jobs)
    assert [(d.kind, d.job_id) for d in report.drifts] == [("missing_invoice", uninvoiced)]
