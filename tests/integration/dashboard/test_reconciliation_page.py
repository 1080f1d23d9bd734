"""The admin's Reconciliation page, against drift made for real in the sandbox: the drift
report and its repairs, manual payments, void and re-issue, event replay, the audit log,
and who may reach any of it."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from core.audit import describe_action
from core.billing.admin_actions import record_manual_payment, void_and_reissue
from core.billing.outcome_text import describe_outcome
from core.billing.reconcile import KINDS, drift_report
from core.billing.repairs import repair
from core.billing.replay import replay_events
from core.context import AppContext
from core.db.models import AuditLog, Job, Payment, StripeEvent
from core.db.session import session_scope
from core.errors import Forbidden
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM, Actor
from core.jobs.lifecycle import complete_job
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    SMALL_PASSWORD,
    DownloadReader,
    Small,
    add_job,
    captions,
    errors,
    nav_titles,
    open_page,
    page_app,
    refused_page,
    shown,
    signed_in,
    small_marketplace,
    successes,
    titles,
)
from tests.support.sandbox import SandboxControl

PAGE = "reconciliation.py"
AGREE = "The database and Stripe agree."


# ---------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Shop:
    """A small marketplace with an admin account; `new_job` adds a job of its provider."""

    ctx: AppContext
    small: Small
    admin_id: int

    @property
    def admin(self) -> str:
        return f"admin:{self.admin_id}"

    def new_job(self, price: int = 15000) -> int:
        with session_scope(self.ctx.sessions) as session:
            return add_job(
                session,
                customer_id=self.small.customer_id,
                provider_id=self.small.provider_id,
                service_id=self.small.service_id,
                price=price,
            )

    def completed(self, job_id: int | None = None) -> tuple[int, str]:
        """A job completed and invoiced through core: (job id, its open invoice)."""
        job_id = job_id or self.new_job()
        result = complete_job(self.ctx, job_id=job_id, actor=SYSTEM)
        assert result.invoice is not None and result.invoice.status == "open", result.error
        return job_id, result.invoice.invoice_id


@pytest.fixture
def shop(dashboard: AppContext, sandbox: SandboxControl) -> Shop:
    small = small_marketplace(dashboard)
    with session_scope(dashboard.sessions) as session:
        admin = create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        session.flush()
        admin_id = admin.id
    return Shop(dashboard, small, admin_id)


@dataclass(frozen=True)
class JobState:
    status: str
    price: int
    payment_status: str
    amount: int
    method: str | None


def job_state(ctx: AppContext, job_id: int) -> JobState:
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalar(select(Payment).where(Payment.job_id == job_id))
        assert job is not None and payment is not None
        return JobState(job.status, job.price, payment.status, payment.amount, payment.method)


def stripe_invoices(sandbox: SandboxControl, job_id: int) -> list[dict[str, Any]]:
    """The job's invoices as the sandbox has them, oldest first (read with its own client)."""
    listing = sandbox.client.v1.invoices.list(params={"limit": 100})
    every = [invoice.to_dict() for invoice in listing.auto_paging_iter()]
    found = [i for i in every if (i.get("metadata") or {}).get("job_id") == str(job_id)]
    # Listed newest first; two made in the same second tie on `created`, so the list's
    # order (reversed), not the random id, says which is older.
    oldest = list(reversed(found))
    oldest.sort(key=lambda invoice: invoice["created"])
    return oldest


def statuses(sandbox: SandboxControl, job_id: int) -> list[tuple[str, str, int]]:
    return [(i["id"], i["status"], i["amount_due"]) for i in stripe_invoices(sandbox, job_id)]


def invoice_events(sandbox: SandboxControl, invoice_id: str) -> set[str]:
    listing = sandbox.client.v1.events.list(params={"limit": 100})
    return {e.type for e in listing.auto_paging_iter() if e.data.object["id"] == invoice_id}


def audit_rows(ctx: AppContext, action: str | None = None) -> list[AuditLog]:
    with session_scope(ctx.sessions) as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if action is not None:
            query = query.where(AuditLog.action == action)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


# ---------------------------------------------------------------------------------------
# Reading the page


def admin_page() -> AppTest:
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), PAGE)
    assert titles(at) == ["Reconciliation"]
    return at


def ran(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return ran(at)


def frame_with(at: AppTest, column: str) -> Any:
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) <= 1
    return frames[0] if frames else None


def drift_rows(at: AppTest) -> list[tuple[str, int]]:
    frame = frame_with(at, "Proposed fix")
    if frame is None:
        return []
    return sorted(
        (str(kind), int(job)) for kind, job in zip(frame["Kind"], frame["Job #"], strict=True)
    )


def fix_results(at: AppTest) -> list[tuple[int, str, str]]:
    frame = frame_with(at, "Detail")
    assert frame is not None, "no table of fixes"
    return [(int(r["Job #"]), r["Kind"], r["Result"]) for _, r in frame.iterrows()]


def change_lines(at: AppTest) -> list[str]:
    """The list of what an action changes (or would), as the page shows it."""
    [text] = [shown(m.value) for m in at.markdown if "What chang" in shown(m.value)]
    return [line.removeprefix("- ") for line in text.splitlines()[1:]]


def infos(at: AppTest) -> list[str]:
    return [shown(i.value) for i in at.info]


def compare(at: AppTest) -> AppTest:
    return click(at, "drift_check")


ProgressCalls = list[tuple[float, str | None]]


@pytest.fixture
def progress_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProgressCalls]:
    """Every st.progress drawn (value, text), recorded as the real one draws it: the page
    reruns after repairing, so the bar is gone from the final element tree."""
    calls: ProgressCalls = []
    real: Callable[..., Any] = DeltaGenerator.progress

    def progress(self: DeltaGenerator, value: Any, text: str | None = None) -> Any:
        calls.append((float(value), text))
        return real(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", progress)
    yield calls


# ---------------------------------------------------------------------------------------
# The drift report


def test_drift_report_lists_real_drifts_and_repairs_them(
    shop: Shop, sandbox: SandboxControl, progress_calls: ProgressCalls
) -> None:
    ctx = shop.ctx
    # A missed payment: paid in Stripe while no webhook endpoint is registered.
    missed, missed_invoice = shop.completed(shop.small.job_id)
    ctx.gateway.pay_test_invoice(missed_invoice, card="visa")
    # A missing invoice: completed, but Stripe failed every attempt to create the invoice.
    sandbox.fault("/v1/invoices", method="POST", status=500, count=10)
    no_invoice = shop.new_job()
    failed = complete_job(ctx, job_id=no_invoice, actor=SYSTEM)
    assert failed.invoice is None and failed.error is not None
    sandbox.http.delete("/_sandbox/faults").raise_for_status()
    # Closed in Stripe: voided there by hand, still owed here.
    closed, closed_invoice = shop.completed()
    sandbox.client.v1.invoices.void_invoice(closed_invoice)
    # And a clean job: open invoice, pending payment. Not a drift.
    clean, clean_invoice = shop.completed()
    assert stripe_invoices(sandbox, no_invoice) == []

    at = admin_page()
    assert drift_rows(at) == [] and AGREE not in successes(at)
    at.selectbox(key="drift_window").set_value("in the last 7 days")
    compare(at)
    assert "Checked 4 jobs against 3 Stripe invoices, 0 refunds and 0 disputes." in captions(at)
    assert drift_rows(at) == sorted(
        [
            (KINDS["missed_payment"], missed),
            (KINDS["missing_invoice"], no_invoice),
            (KINDS["closed_in_stripe"], closed),
        ]
    )
    assert AGREE not in successes(at)

    # No reason, no fix: both buttons are disabled, also for a blank reason.
    assert at.button(key="drift_apply_one").disabled
    assert at.button(key="drift_apply_all").disabled
    at.text_input(key="drift_reason").input("   ")
    ran(at)
    assert at.button(key="drift_apply_one").disabled
    assert at.button(key="drift_apply_all").disabled

    reason = "invoice.paid missed during the outage"
    at.text_input(key="drift_reason").input(reason)
    ran(at)
    assert not at.button(key="drift_apply_one").disabled
    assert at.button(key="drift_apply_all").label == "Apply all 3 fixes"
    chooser = at.selectbox(key="drift_choice")
    frame = frame_with(at, "Proposed fix")
    row = [int(j) for j in frame["Job #"]].index(missed)
    assert chooser.options[row] == f"#{row + 1} · job {missed} · {KINDS['missed_payment']}"
    chooser.set_value(row)
    ran(at)
    click(at, "drift_apply_one")

    assert fix_results(at) == [(missed, KINDS["missed_payment"], "Fixed")]
    assert frame_with(at, "Detail").iloc[0]["Detail"] == "Payment applied."
    assert "Last fixes" in [h.value for h in at.subheader]
    assert drift_rows(at) == []  # the report is gone until compared again
    assert job_state(ctx, missed) == JobState("paid", 15000, "received", 15000, "stripe")
    assert job_state(ctx, no_invoice).payment_status == "pending"
    assert job_state(ctx, closed).payment_status == "pending"
    repaired = audit_rows(ctx, "reconcile.missed_payment")
    assert [(a.job_id, a.actor, a.reason, a.result) for a in repaired] == [
        (missed, shop.admin, reason, "ok")
    ]
    assert stripe_invoices(sandbox, no_invoice) == []  # nothing else was touched

    # Compared again, only the rest is left; "Apply all" fixes them with a progress bar.
    compare(at)
    assert drift_rows(at) == sorted(
        [(KINDS["missing_invoice"], no_invoice), (KINDS["closed_in_stripe"], closed)]
    )
    assert at.button(key="drift_apply_all").label == "Apply all 2 fixes"
    rest = "invoices lost while Stripe was failing"
    at.text_input(key="drift_reason").input(rest)
    ran(at)
    assert progress_calls == []
    # The first click only says what will happen: two invoices e-mailed to the customer.
    click(at, "drift_apply_all")
    assert [shown(w.value) for w in at.warning] == [
        "Applying 2 fixes e-mails 1 customer (2 invoices sent) and changes 2 invoices in Stripe."
    ]
    assert at.button(key="drift_confirm_all").label == "Yes, apply and e-mail 1 customer"
    assert progress_calls == [] and stripe_invoices(sandbox, no_invoice) == []
    click(at, "drift_confirm_no")  # "Not now" changes nothing
    assert not at.warning and stripe_invoices(sandbox, no_invoice) == []
    click(at, "drift_apply_all")
    click(at, "drift_confirm_all")
    assert sorted(fix_results(at)) == sorted(
        [
            (no_invoice, KINDS["missing_invoice"], "Fixed"),
            (closed, KINDS["closed_in_stripe"], "Fixed"),
        ]
    )
    assert progress_calls == [(0.0, "Repairing…"), (0.5, "1 of 2"), (1.0, "2 of 2")]
    assert "2 fixes applied." in [shown(m.value) for m in at.markdown]

    assert [(s, amount) for _, s, amount in statuses(sandbox, no_invoice)] == [("open", 15000)]
    assert [(s, amount) for _, s, amount in statuses(sandbox, closed)] == [
        ("void", 15000),
        ("open", 15000),
    ]
    assert statuses(sandbox, clean) == [(clean_invoice, "open", 15000)]
    assert sorted(
        (a.job_id, a.action, a.reason, a.result)
        for a in audit_rows(ctx)
        if a.action.startswith("reconcile.") and a.reason == rest
    ) == sorted(
        [
            (no_invoice, "reconcile.missing_invoice", rest, "ok"),
            (closed, "reconcile.closed_in_stripe", rest, "ok"),
        ]
    )

    compare(at)
    assert AGREE in successes(at)
    assert drift_rows(at) == []
    assert "Checked 4 jobs against 5 Stripe invoices, 0 refunds and 0 disputes." in captions(at)


def test_a_missed_refund_is_listed_with_its_title_and_fixed_from_the_page(
    shop: Shop, sandbox: SandboxControl
) -> None:
    ctx = shop.ctx
    # No webhook endpoint: the payment and its refund, made in Stripe, reach nobody.
    job_id, invoice_id = shop.completed(shop.small.job_id)
    ctx.gateway.pay_test_invoice(invoice_id, card="visa")
    [paid] = ctx.gateway.invoice_payments(invoice_id)
    assert paid.payment_intent_id is not None
    ctx.gateway.refund_payment(paid.payment_intent_id, amount=5000, idempotency_key="t-page-refund")

    at = compare(admin_page())
    assert "Checked 1 job against 1 Stripe invoice, 1 refund and 0 disputes." in captions(at)
    assert drift_rows(at) == sorted(
        [(KINDS["missed_payment"], job_id), (KINDS["missed_refund"], job_id)]
    )
    frame = frame_with(at, "Proposed fix")
    assert "Record the refund, as the missed refund webhook would have." in list(
        frame["Proposed fix"]
    )
    at.text_input(key="drift_reason").input("webhooks missed")
    ran(at)
    click(at, "drift_apply_all")
    # Neither fix e-mails the customer an invoice.
    assert at.button(key="drift_confirm_all").label == "Yes, apply 2 fixes"
    click(at, "drift_confirm_all")
    assert sorted(fix_results(at)) == sorted(
        [(job_id, KINDS["missed_payment"], "Fixed"), (job_id, KINDS["missed_refund"], "Fixed")]
    )
    assert [a.result for a in audit_rows(ctx, "reconcile.missed_refund")] == ["ok"]
    compare(at)
    assert AGREE in successes(at)


# ---------------------------------------------------------------------------------------
# Manual payment


def test_manual_payment_previews_then_records_and_refuses_an_unfinished_job(
    shop: Shop, sandbox: SandboxControl
) -> None:
    ctx = shop.ctx
    job_id, invoice_id = shop.completed(shop.small.job_id)
    unfinished = shop.new_job()
    pending = JobState("completed", 15000, "pending", 15000, None)

    at = admin_page()
    at.number_input(key="manual_job").set_value(job_id)
    reason = "Cash received on site"
    at.text_input(key="manual_reason").input(reason)
    click(at, "manual_preview")
    assert "Preview only: nothing was changed." in infos(at)
    assert change_lines(at) == [
        "Job: completed → paid",
        "Payment: pending → received",
        "Paid through: none → by hand (cash or cheque)",
        f"Invoice: {invoice_id} marked paid outside Stripe",
    ]
    assert job_state(ctx, job_id) == pending
    assert statuses(sandbox, job_id) == [(invoice_id, "open", 15000)]
    assert audit_rows(ctx, "payment.manual") == []

    click(at, "manual_apply")
    assert successes(at) == [
        f"Payment recorded. Invoice {invoice_id} was marked paid outside Stripe."
    ]
    assert job_state(ctx, job_id) == JobState("paid", 15000, "received", 15000, "manual")
    # Paid outside Stripe: paid, with no charge attempted and no payment_succeeded event.
    [invoice] = stripe_invoices(sandbox, job_id)
    assert (invoice["id"], invoice["status"], invoice["amount_paid"]) == (invoice_id, "paid", 15000)
    assert (invoice["attempted"], invoice["attempt_count"]) == (False, 0)
    assert invoice_events(sandbox, invoice_id) >= {"invoice.paid"}
    assert "invoice.payment_succeeded" not in invoice_events(sandbox, invoice_id)
    [entry] = audit_rows(ctx, "payment.manual")
    assert (entry.job_id, entry.actor, entry.reason, entry.result) == (
        job_id,
        shop.admin,
        reason,
        "ok",
    )
    assert entry.after is not None and entry.after["method"] == "manual"

    # Both sides agree now.
    compare(at)
    assert AGREE in successes(at)

    # A job that was never completed cannot be marked paid; nothing is written.
    at.number_input(key="manual_job").set_value(unfinished)
    click(at, "manual_apply")
    assert errors(at) == [
        f"Job #{unfinished} is new; only a completed, unpaid job can be marked paid"
    ]
    assert job_state(ctx, unfinished) == JobState("new", 15000, "pending", 0, None)
    assert len(audit_rows(ctx, "payment.manual")) == 1
    assert stripe_invoices(sandbox, unfinished) == []

    # Nor can a payment be recorded without a reason.
    other, other_invoice = shop.completed()
    at.number_input(key="manual_job").set_value(other)
    at.text_input(key="manual_reason").input("")
    click(at, "manual_apply")
    assert errors(at) == ["A reason is required; it is kept in the audit log."]
    assert job_state(ctx, other) == pending
    assert statuses(sandbox, other) == [(other_invoice, "open", 15000)]


# ---------------------------------------------------------------------------------------
# Void and re-issue


def test_void_and_reissue_previews_refuses_a_bad_price_then_reissues(
    shop: Shop, sandbox: SandboxControl
) -> None:
    ctx = shop.ctx
    job_id, invoice_id = shop.completed(shop.small.job_id)
    unchanged = JobState("completed", 15000, "pending", 15000, None)
    reason = "Quoted the wrong rate"

    at = admin_page()
    at.number_input(key="reissue_job").set_value(job_id)
    at.text_input(key="reissue_price").input("175.50")
    at.text_input(key="reissue_reason").input(reason)
    click(at, "reissue_preview")
    assert "Preview only: nothing was changed." in infos(at)
    assert change_lines(at) == [
        "Price: $150.00 → $175.50",
        "Amount owed: $150.00 → $175.50",
        f"Invoice: void {invoice_id}, send a new one",
    ]
    assert job_state(ctx, job_id) == unchanged
    assert statuses(sandbox, job_id) == [(invoice_id, "open", 15000)]
    assert audit_rows(ctx, "invoice.reissue") == []

    at.text_input(key="reissue_price").input("abc")
    click(at, "reissue_apply")
    assert errors(at) == ["'abc' is not an amount like 150 or 150.00"]
    assert job_state(ctx, job_id) == unchanged
    assert statuses(sandbox, job_id) == [(invoice_id, "open", 15000)]
    assert audit_rows(ctx, "invoice.reissue") == []

    at.text_input(key="reissue_price").input("$175.50")
    click(at, "reissue_apply")
    assert not errors(at)
    [message] = successes(at)
    invoices = stripe_invoices(sandbox, job_id)
    assert [(i["status"], i["amount_due"]) for i in invoices] == [("void", 15000), ("open", 17550)]
    assert invoices[0]["id"] == invoice_id
    assert message == f"New invoice {invoices[1]['number']} was sent."
    assert job_state(ctx, job_id) == JobState("completed", 17550, "pending", 17550, None)
    [entry] = audit_rows(ctx, "invoice.reissue")
    assert (entry.job_id, entry.actor, entry.reason, entry.result) == (
        job_id,
        shop.admin,
        reason,
        "ok",
    )
    assert entry.after is not None and entry.after["price"] == 17550
    sent = audit_rows(ctx, "invoice.send")[-1]
    assert sent.after is not None and sent.after["invoice_id"] == invoices[1]["id"]

    compare(at)
    assert AGREE in successes(at)


def test_reissue_of_a_draft_left_by_failed_invoicing_bills_the_new_price(
    shop: Shop, sandbox: SandboxControl
) -> None:
    """Invoicing stopped at the send (which finalizes), leaving a $150.00 draft; the admin
    corrects the price before anything is sent. The customer must be billed the corrected
    price."""
    ctx = shop.ctx
    job_id = shop.small.job_id
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=10)
    failed = complete_job(ctx, job_id=job_id, actor=SYSTEM)
    assert failed.error is not None and failed.error.step == "send"
    sandbox.http.delete("/_sandbox/faults").raise_for_status()
    [(draft_id, status, amount)] = statuses(sandbox, job_id)
    assert (status, amount) == ("draft", 15000)

    at = admin_page()
    at.number_input(key="reissue_job").set_value(job_id)
    at.text_input(key="reissue_price").input("175.50")
    at.text_input(key="reissue_reason").input("Quoted the wrong rate")
    click(at, "reissue_preview")
    # A draft cannot be voided in Stripe: it is deleted.
    assert change_lines(at)[-1] == f"Invoice: delete {draft_id}, send a new one"
    click(at, "reissue_apply")
    assert not errors(at) and successes(at)
    assert job_state(ctx, job_id) == JobState("completed", 17550, "pending", 17550, None)
    billed = [(s, amount) for _, s, amount in statuses(sandbox, job_id) if s in ("open", "paid")]
    assert billed == [("open", 17550)], statuses(sandbox, job_id)

    compare(at)
    assert AGREE in successes(at), drift_rows(at)


# ---------------------------------------------------------------------------------------
# Replay


def test_replay_applies_lost_events_once_and_shows_the_counts(
    shop: Shop, sandbox: SandboxControl
) -> None:
    ctx = shop.ctx
    paid, paid_invoice = shop.completed(shop.small.job_id)
    ctx.gateway.pay_test_invoice(paid_invoice, card="visa")  # nobody hears invoice.paid
    waiting, _ = shop.completed()
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0
    assert job_state(ctx, paid).payment_status == "pending"

    at = admin_page()
    at.text_input(key="replay_since").input("yesterday")
    click(at, "replay")
    assert errors(at) and "'yesterday'" in errors(at)[0]
    assert job_state(ctx, paid).payment_status == "pending"

    at.text_input(key="replay_since").input("")
    click(at, "replay")
    assert not errors(at)
    with session_scope(ctx.sessions) as session:
        handled = list(session.execute(select(StripeEvent.type, StripeEvent.outcome)).all())
    outcomes = Counter(outcome for _, outcome in handled)
    # invoice.paid and invoice.payment_succeeded: whichever comes first pays the job.
    assert outcomes["applied"] == 1 and outcomes["already_applied"] == 1
    assert {t for t, o in handled if o in ("applied", "already_applied")} == {
        "invoice.paid",
        "invoice.payment_succeeded",
    }
    counts = ", ".join(f"{n} {describe_outcome(o).lower()}" for o, n in sorted(outcomes.items()))
    assert "1 payment applied" in counts and "1 already applied" in counts
    [message] = successes(at)
    assert message.startswith(f"{len(handled)} events since ")
    assert message.endswith(f" UTC: {counts}.")
    assert job_state(ctx, paid) == JobState("paid", 15000, "received", 15000, "stripe")
    assert job_state(ctx, waiting).payment_status == "pending"

    # Replayed again, every event is a duplicate: nothing applies twice.
    click(at, "replay")
    [again] = successes(at)
    assert again.endswith(f": {len(handled)} duplicate (handled before).")
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == len(handled)
    assert job_state(ctx, paid).payment_status == "received"

    compare(at)
    assert AGREE in successes(at)


def test_replay_since_shows_the_start_it_used(shop: Shop, sandbox: SandboxControl) -> None:
    paid, paid_invoice = shop.completed(shop.small.job_id)
    shop.ctx.gateway.pay_test_invoice(paid_invoice, card="visa")
    at = admin_page()
    at.text_input(key="replay_since").input("2020-01-02")
    click(at, "replay")
    [message] = successes(at)
    assert " since 2020-01-02 00:00 UTC: " in message and "1 payment applied" in message
    assert job_state(shop.ctx, paid).payment_status == "received"


# ---------------------------------------------------------------------------------------
# Audit log


def audit_table(at: AppTest) -> list[dict[str, Any]]:
    frame = frame_with(at, "What")
    assert frame is not None
    return [dict(row) for _, row in frame.iterrows()]


def test_audit_log_filters_by_job_and_action_and_downloads_as_csv(
    shop: Shop, sandbox: SandboxControl, downloads: DownloadReader
) -> None:
    ctx = shop.ctx
    admin = Actor("admin", shop.admin_id)
    cash, _ = shop.completed(shop.small.job_id)
    rerated, _ = shop.completed()
    record_manual_payment(ctx, job_id=cash, actor=admin, reason="=cash on site")
    void_and_reissue(ctx, job_id=rerated, new_price=9900, actor=admin, reason="wrong rate")
    everything = audit_rows(ctx)
    assert len(everything) >= 6

    at = admin_page()
    rows = audit_table(at)
    assert len(rows) == len(everything)
    assert [r["What"] for r in rows] == [
        describe_action(a.action)
        for a in sorted(everything, key=lambda a: (a.created_at, a.id), reverse=True)
    ]
    # Who by name, never an id; the change in words, never a Python dict.
    assert {r["Who"] for r in rows} == {"Alex Admin", "The system (automatic)"}
    reissue = next(r for r in rows if r["What"] == "Invoice voided and re-issued")
    assert reissue["Changes"] == "Price: $150.00 → $99.00; Amount owed: $150.00 → $99.00"
    assert reissue["Result"] == "Done"
    assert not any("{" in str(value) for row in rows for value in row.values())

    at.number_input(key="audit_job").set_value(cash)
    ran(at)
    rows = audit_table(at)
    assert {int(r["Job #"]) for r in rows} == {cash}
    assert sorted(r["What"] for r in rows) == sorted(
        describe_action(a.action) for a in everything if a.job_id == cash
    )

    at.selectbox(key="audit_action").set_value("payment.")
    ran(at)
    rows = audit_table(at)
    assert [(r["What"], int(r["Job #"]), r["Who"], r["Reason"], r["Result"]) for r in rows] == [
        ("Payment recorded by hand", cash, "Alex Admin", "=cash on site", "Done")
    ]
    download = downloads(at, "audit_csv")
    assert download.filename == "audit-log.csv" and download.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert list(table[0]) == [
        "When (UTC)",
        "Who",
        "What",
        "Job #",
        "Reason",
        "Result",
        "Changes",
        "Error",
        "Actor",
        "Action",
        "Before (JSON)",
        "After (JSON)",
    ]
    [row] = table
    assert (row["Who"], row["Actor"], row["Action"], row["Job #"], row["Reason"]) == (
        "Alex Admin",
        shop.admin,
        "payment.manual",
        str(cash),
        "'=cash on site",  # a spreadsheet reads it as text, not as a formula
    )
    [entry] = audit_rows(ctx, "payment.manual")
    assert json.loads(row["Before (JSON)"]) == entry.before
    assert json.loads(row["After (JSON)"]) == entry.after
    assert json.loads(row["Before (JSON)"])["method"] is None  # JSON null, not Python's None

    # The other job's re-issue only shows under its own number; "invoice." is a prefix.
    at.selectbox(key="audit_action").set_value("invoice.")
    ran(at)
    assert {r["What"] for r in audit_table(at)} == {"Invoice sent"}
    at.number_input(key="audit_job").set_value(rerated)
    ran(at)
    assert sorted(r["What"] for r in audit_table(at)) == sorted(
        describe_action(a.action)
        for a in everything
        if a.job_id == rerated and a.action.startswith("invoice.")
    )
    assert "Invoice voided and re-issued" in {r["What"] for r in audit_table(at)}

    # Who: only the admin's entries, across jobs, chosen by name.
    at.number_input(key="audit_job").set_value(0)
    at.selectbox(key="audit_action").set_value("")
    who = at.selectbox(key="audit_actor")
    assert who.options == ["anyone", "Alex Admin", "The system (automatic)"]
    who.set_value(shop.admin)
    ran(at)
    assert sorted((r["What"], int(r["Job #"])) for r in audit_table(at)) == sorted(
        (describe_action(a.action), a.job_id) for a in everything if a.actor == shop.admin
    )
    lines = list(csv.reader(io.StringIO(downloads(at, "audit_csv").data.decode("utf-8-sig"))))
    assert len(lines) - 1 == sum(1 for a in everything if a.actor == shop.admin)


# ---------------------------------------------------------------------------------------
# Access


def shows_nothing(at: AppTest) -> bool:
    return not at.main.children and not at.exception


def test_provider_and_finance_cannot_reach_reconciliation(
    shop: Shop, sandbox: SandboxControl
) -> None:
    ctx = shop.ctx
    job_id, invoice_id = shop.completed(shop.small.job_id)
    ctx.gateway.pay_test_invoice(invoice_id, card="visa")  # a real drift to repair
    with session_scope(ctx.sessions) as session:
        create_account(
            session,
            username=FINANCE_EMAIL,
            display_name="Fran Finance",
            role="finance",
            password=FINANCE_PASSWORD,
        )

    assert "Reconciliation" in nav_titles(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD))
    for email, password in ((shop.small.email, SMALL_PASSWORD), (FINANCE_EMAIL, FINANCE_PASSWORD)):
        alone = refused_page(email, password, PAGE, "Reconciliation")
        assert shows_nothing(alone), email
    assert shows_nothing(page_app(PAGE).run())  # nobody signed in

    report = drift_report(ctx, actor=SYSTEM)
    [drift] = report.drifts
    assert (drift.kind, drift.job_id) == ("missed_payment", job_id)
    for actor in (Actor("provider", shop.small.provider_id), Actor("finance", 1)):
        with pytest.raises(Forbidden):
            drift_report(ctx, actor=actor)
        with pytest.raises(Forbidden):
            repair(ctx, drift, actor=actor, reason="trying")
        with pytest.raises(Forbidden):
            record_manual_payment(ctx, job_id=job_id, actor=actor, reason="trying")
        with pytest.raises(Forbidden):
            record_manual_payment(ctx, job_id=job_id, actor=actor, reason="trying", preview=True)
        with pytest.raises(Forbidden):
            void_and_reissue(ctx, job_id=job_id, new_price=100, actor=actor, reason="trying")
        with pytest.raises(Forbidden):
            replay_events(ctx, actor=actor)
    assert job_state(ctx, job_id).payment_status == "pending"
    assert [(s, amount) for _, s, amount in statuses(sandbox, job_id)] == [("paid", 15000)]
    assert {a.actor for a in audit_rows(ctx)} == {"system"}
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0
