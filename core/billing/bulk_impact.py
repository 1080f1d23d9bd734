"""What a bulk action (reconciliation's fixes, resending invoices) will do to customers and
invoices, said before anyone clicks, and what it did, said after."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from core.audit import plural
from core.billing.outcome_text import sentence
from core.billing.reconcile import Drift
from core.billing.repairs import RepairResult
from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope

# Fixes that send one invoice (a new one, a finished draft or an unsent one), so Stripe
# e-mails the customer.
SENDS_ONE = frozenset({"missing_invoice", "closed_in_stripe", "never_sent"})
EMAILS_CUSTOMER = SENDS_ONE | {"amount_mismatch"}  # voids the wrong one, sends a new one


def invoices_changed(drift: Drift) -> int:
    """How many Stripe invoices the fix creates, sends, voids, deletes or marks paid."""
    if not drift.repairable or drift.kind == "missed_payment":  # ours alone changes
        return 0
    if drift.kind in SENDS_ONE:
        return 1
    return len(drift.invoice_ids) + (1 if drift.kind == "amount_mismatch" else 0)


@dataclass(frozen=True)
class Impact:
    fixes: int  # repairable drifts
    emails: int  # invoice e-mails Stripe sends
    customers: int  # distinct customers who get them
    invoices: int  # Stripe invoices that change
    payments: int  # payments credited here
    skipped: int  # drifts a person must handle

    @property
    def reaches_customers(self) -> bool:
        return self.emails > 0

    def summary(self) -> str:
        """E.g. "Applying 24 fixes e-mails 20 customers (24 invoices sent) and changes 26
        invoices in Stripe."."""
        does = []
        if self.emails:
            does.append(
                f"e-mails {plural(self.customers, 'customer')} "
                f"({plural(self.emails, 'invoice')} sent)"
            )
        does.append(f"changes {plural(self.invoices, 'invoice')} in Stripe")
        if self.payments:
            does.append(f"credits {plural(self.payments, 'payment')} here")
        listed = ", ".join(does[:-1]) + " and " + does[-1] if len(does) > 1 else does[0]
        text = f"Applying {plural(self.fixes, 'fix', 'fixes')} {listed}."
        if self.skipped == 1:
            text += " 1 drift needs a person and is left as it is."
        elif self.skipped:
            text += f" {self.skipped} drifts need a person and are left as they are."
        return text


def customers_reached(ctx: AppContext, job_ids: Iterable[int]) -> int:
    """How many customers the jobs belong to: one e-mail each per job."""
    wanted = set(job_ids)
    if not wanted:
        return 0
    with session_scope(ctx.readers) as session:
        return len(set(session.scalars(select(Job.customer_id).where(Job.id.in_(wanted)))))


def impact(ctx: AppContext, drifts: Sequence[Drift]) -> Impact:
    emailing = [d for d in drifts if d.repairable and d.kind in EMAILS_CUSTOMER]
    return Impact(
        fixes=sum(1 for d in drifts if d.repairable),
        emails=len(emailing),
        customers=customers_reached(ctx, (d.job_id for d in emailing)),
        invoices=sum(invoices_changed(d) for d in drifts),
        payments=sum(1 for d in drifts if d.repairable and d.kind == "missed_payment"),
        skipped=sum(1 for d in drifts if not d.repairable),
    )


def done_summary(done: int, total: int, noun: str, verb: str, many: str | None = None) -> str:
    """E.g. "2 fixes applied." or "1 of 2 invoices sent again; 1 failed (see the detail)."."""
    if done == total:
        return f"{plural(done, noun, many)} {verb}."
    failed = total - done
    return f"{done} of {plural(total, noun, many)} {verb}; {failed} failed (see the detail)."


def results_summary(results: Sequence[RepairResult]) -> str:
    return done_summary(sum(1 for r in results if r.ok), len(results), "fix", "applied", "fixes")


def result_detail(result: RepairResult) -> str:
    return sentence(result.message)
