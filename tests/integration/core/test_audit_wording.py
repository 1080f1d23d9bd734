"""How the audit trail and repair results read to a person: actors by name, changes as
"Price: $150.00 → $175.00", JSON for files, counts with their grammar."""

from __future__ import annotations

import json

from core import audit
from core.audit import as_json, describe_action, describe_change, plural
from core.billing.bulk_impact import Impact, done_summary, invoices_changed
from core.billing.outcome_text import describe_outcome, sentence
from core.billing.reconcile import Drift
from core.context import AppContext
from core.db.models import AuditLog
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM, Actor
from tests.support.factories import Market


def test_counts_say_one_or_many() -> None:
    assert [plural(n, "cent") for n in (0, 1, 2)] == ["0 cents", "1 cent", "2 cents"]
    assert plural(1, "fix", "fixes") == "1 fix"
    assert plural(24, "fix", "fixes") == "24 fixes"
    assert plural(1500, "job") == "1,500 jobs"


def test_a_change_reads_as_lines_with_money_formatted() -> None:
    before = {
        "job_status": "completed",
        "price": 15000,
        "payment_status": "pending",
        "payment_amount": 15000,
        "method": None,
    }
    after = {
        **before,
        "price": 17500,
        "payment_amount": 17500,
        "method": "manual",
        "invoice": "in_1 voided",
    }

    assert describe_change(before, after) == [
        "Price: $150.00 → $175.00",
        "Amount owed: $150.00 → $175.00",
        "Paid through: none → by hand (cash or cheque)",
        "Invoice: in_1 voided",
    ]
    assert describe_change(None, {"step": "invoice_create", "amount_due": 1}) == [
        "Failed at: invoice create",
        "Amount due: $0.01",
    ]
    assert describe_change({"a": 1}, {"a": 1}) == []
    assert describe_change(None, {"kinds": {"missed_payment": 2}, "since": None}) == [
        "Kinds: missed payment 2",
        "Since: none",
    ]


def test_actions_and_outcomes_read_as_words() -> None:
    assert describe_action("job.cancelled") == "Job cancelled"
    assert describe_action("reconcile.missed_payment") == "Reconciled: missed payment"
    assert describe_outcome("amount_mismatch") == "Amount does not match"
    assert describe_outcome("job_cancelled") == "Paid for a cancelled job"
    assert describe_outcome(None) == "Not handled yet"
    assert sentence("payment already_applied") == "Payment already applied."
    assert sentence("payment applied") == "Payment applied."
    assert sentence("voided in_ABC_def, deleted in_2") == "Voided in_ABC_def, deleted in_2."


def test_before_and_after_go_to_files_as_json() -> None:
    value = {"method": None, "price": 15000, "ok": True}
    assert json.loads(as_json(value)) == value
    assert as_json(value) == '{"method": null, "ok": true, "price": 15000}'
    assert as_json(None) == ""


def test_actors_are_named_from_accounts_providers_and_customers(
    ctx: AppContext, market: Market
) -> None:
    with session_scope(ctx.sessions) as session:
        account = create_account(
            session,
            username="alex@example.com",
            display_name="Alex Admin",
            role="admin",
            password="a-long-password",
        )
        admin = Actor("admin", account.id)
        for actor in (admin, market.provider, Actor("customer", market.customer_id), SYSTEM):
            audit.record(session, actor=actor, action="job.cancelled", job_id=None)
        audit.record(session, actor=Actor("admin", 999), action="job.cancelled", job_id=None)

    with session_scope(ctx.sessions) as session:
        names = audit.actor_names(session, audit.actors(session))
        entries = audit.readable(session, list(session.query(AuditLog).order_by(AuditLog.id)))

    assert names == {
        admin.label: "Alex Admin",
        market.provider.label: "Rivera Plumbing",
        f"customer:{market.customer_id}": "Ann Lee",
        "system": "The system (automatic)",
        "admin:999": "admin:999",  # no such account: the label as recorded
    }
    assert [e.who for e in entries][:2] == ["Alex Admin", "Rivera Plumbing"]
    assert {(e.what, e.result) for e in entries} == {("Job cancelled", "Done")}


def drift(kind: str, *invoice_ids: str, repairable: bool = True) -> Drift:
    return Drift(kind, 1, "ours", "stripe's", "fix", invoice_ids, repairable)


def test_what_a_fix_changes_in_stripe_is_counted_per_kind() -> None:
    assert invoices_changed(drift("missed_payment", "in_1")) == 0
    assert invoices_changed(drift("missing_invoice", "in_draft")) == 1
    assert invoices_changed(drift("closed_in_stripe", "in_1", "in_2")) == 1
    assert invoices_changed(drift("amount_mismatch", "in_1")) == 2
    assert invoices_changed(drift("duplicate_invoices", "in_2", "in_3")) == 2
    assert invoices_changed(drift("refused_invoice", "in_1", repairable=False)) == 0


def test_the_impact_summary_says_who_is_emailed() -> None:
    assert Impact(24, 24, 20, 26, 1, 0).summary() == (
        "Applying 24 fixes e-mails 20 customers (24 invoices sent), changes 26 invoices in "
        "Stripe and credits 1 payment here."
    )
    assert Impact(1, 0, 0, 1, 0, 1).summary() == (
        "Applying 1 fix changes 1 invoice in Stripe. 1 drift needs a person and is left as it is."
    )


def test_a_bulk_result_says_how_many_were_done() -> None:
    assert done_summary(2, 2, "fix", "applied", "fixes") == "2 fixes applied."
    assert done_summary(1, 1, "invoice", "sent again") == "1 invoice sent again."
    assert done_summary(1, 2, "invoice", "sent again") == (
        "1 of 2 invoices sent again; 1 failed (see the detail)."
    )
