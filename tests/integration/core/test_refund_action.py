"""An admin's refund from core.billing.refund_action, against the sandbox over HTTP, with
the webhooks that follow delivered to the real service: applied at once, exactly one credit
note per request, refusals that change nothing here or in Stripe, and earnings taken once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.admin_actions import record_manual_payment
from core.billing.refund_action import AUDIT_ACTION, preview_refund, refund_job
from core.context import AppContext
from core.db.models import AuditLog, JobMoneyBack, Notification, ServiceProvider, StripeRefund
from core.db.session import session_scope
from core.errors import Conflict, Forbidden, InvalidInput, InvalidStripeRequest, StripeUnavailable
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.reporting.earnings import ledger_mismatches
from tests.conftest import LiveService
from tests.support.factories import Market, invoiced_job, job_for
from tests.support.sandbox import SandboxControl

ADMIN = Actor("admin", 1)


def paid_job(
    ctx: AppContext, sandbox: SandboxControl, market: Market, price: int, card: str = "visa"
) -> tuple[int, str]:
    """A job completed, invoiced and paid by `card`, every event delivered: (job, invoice)."""
    job_id = job_for(ctx, market, price)
    result = complete_job(ctx, job_id=job_id, actor=market.provider)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card=card)
    assert sandbox.drain(timeout=20) == 0
    return job_id, result.invoice.invoice_id


def figures(session: Session, provider_id: int) -> tuple[int, int]:
    provider = session.get(ServiceProvider, provider_id)
    assert provider is not None
    return provider.earnings, provider.total_jobs


def credit_notes(sandbox: SandboxControl, invoice_id: str) -> list[str]:
    return [n.id for n in sandbox.client.v1.credit_notes.list(params={"invoice": invoice_id}).data]


def refunds_of(session: Session, job_id: int) -> list[StripeRefund]:
    return list(
        session.scalars(
            # Stripe's `created` is in seconds: refunds asked in the same second are in the
            # order they were recorded.
            select(StripeRefund)
            .where(StripeRefund.job_id == job_id)
            .order_by(StripeRefund.created, StripeRefund.recorded_at)
        )
    )


def audit_rows(session: Session, job_id: int) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.job_id == job_id, AuditLog.action == AUDIT_ACTION)
            .order_by(AuditLog.id)
        )
    )


def told(session: Session, job_id: int) -> Counter[tuple[str, str]]:
    notes = session.scalars(select(Notification).where(Notification.job_id == job_id))
    return Counter((note.recipient_kind, note.kind) for note in notes)


def test_partial_refunds_add_up_to_the_whole_each_applied_at_once_and_once(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 20000)

    preview = preview_refund(ctx, job_id, actor=ADMIN, amount=5000, ask_stripe=True)
    assert (preview.paid, preview.already_refunded, preview.left_to_refund) == (20000, 0, 20000)
    assert (preview.amount, preview.provider_earnings, preview.provider_earnings_after) == (
        5000,
        20000,
        15000,
    )
    assert not preview.refunded_in_full and preview.stripe_checked
    assert credit_notes(sandbox, invoice_id) == []  # a preview makes nothing

    first = refund_job(
        ctx, job_id, actor=ADMIN, amount=5000, reason="Late arrival", refunded_before=0
    )
    assert (first.amount, first.refunded, first.left_to_refund) == (5000, 5000, 15000)
    assert (first.provider_earnings_before, first.provider_earnings) == (20000, 15000)
    assert not first.replayed and not first.refunded_in_full
    # Applied at once, before any webhook of it is handled.
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (15000, 1)
        [refund] = refunds_of(session, job_id)
        assert (refund.amount, refund.memo, refund.credit_note_id) == (
            5000,
            "Late arrival",
            first.credit_note_id,
        )
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and (totals.refunded, totals.taken_back) == (5000, 5000)
        [entry] = audit_rows(session, job_id)
        assert (entry.actor, entry.reason, entry.result) == ("admin:1", "Late arrival", "ok")
        assert entry.before is not None and entry.after is not None
        assert (entry.before["refunded"], entry.after["refunded"]) == (0, 5000)
        assert entry.after["credit_note_id"] == first.credit_note_id

    # The same request again (a double click): the refund it made, nothing more.
    again = refund_job(
        ctx, job_id, actor=ADMIN, amount=5000, reason="Late arrival", refunded_before=0
    )
    assert again.replayed and again.credit_note_id == first.credit_note_id
    assert credit_notes(sandbox, invoice_id) == [first.credit_note_id]

    assert sandbox.drain(timeout=20) == 0  # credit_note.created, refund.created, charge.refunded
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (15000, 1)
        [refund] = refunds_of(session, job_id)
        assert (refund.status, refund.applied) == ("succeeded", 5000)
        assert told(session, job_id)[("customer", "refund")] == 1

    # A second refund of the same amount, asked later, is a new one.
    second = refund_job(
        ctx, job_id, actor=ADMIN, amount=5000, reason="Second visit late", refunded_before=5000
    )
    assert not second.replayed and second.credit_note_id != first.credit_note_id
    rest = refund_job(ctx, job_id, actor=ADMIN, reason="Customer unhappy")
    assert (rest.amount, rest.left_to_refund, rest.refunded_in_full) == (10000, 0, True)
    assert len(credit_notes(sandbox, invoice_id)) == 3

    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (0, 0)
        assert [r.amount for r in refunds_of(session, job_id)] == [5000, 5000, 10000]
        totals = session.get(JobMoneyBack, job_id)
        assert totals is not None and totals.refunded == 20000 == totals.taken_back
        assert told(session, job_id)[("customer", "refund")] == 3
        assert ledger_mismatches(session) == []
    with pytest.raises(Conflict, match="refunded in full already"):
        preview_refund(ctx, job_id, actor=ADMIN)


def test_a_full_refund_takes_the_job_out_of_the_providers_paid_jobs(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 9000)
    preview = preview_refund(ctx, job_id, actor=ADMIN)
    assert (preview.amount, preview.refunded_in_full, preview.job_earnings_after) == (9000, True, 0)

    result = refund_job(ctx, job_id, actor=ADMIN, reason="Job not done")
    assert result.refunded_in_full and result.message.startswith(
        f"Job #{job_id} is refunded in full: $90.00 went back to the customer"
    )
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (0, 0)
    assert sandbox.drain(timeout=20) == 0
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (0, 0)  # the webhooks take nothing more
        assert ledger_mismatches(session) == []
    assert credit_notes(sandbox, invoice_id) == [result.credit_note_id]


def test_more_than_is_left_and_bad_requests_are_refused_changing_nothing(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 10000)
    refund_job(ctx, job_id, actor=ADMIN, amount=4000, reason="Part of the work")
    assert sandbox.drain(timeout=20) == 0

    with pytest.raises(Conflict, match=r"\$60\.01 is more than is left to refund .*\$60\.00"):
        refund_job(ctx, job_id, actor=ADMIN, amount=6001, reason="Too much")
    with pytest.raises(InvalidInput, match="at least 1 cent"):
        refund_job(ctx, job_id, actor=ADMIN, amount=0, reason="Nothing")
    with pytest.raises(InvalidInput, match="A reason is required"):
        refund_job(ctx, job_id, actor=ADMIN, amount=100, reason="   ")
    with pytest.raises(InvalidInput, match="keep it to 500"):
        refund_job(ctx, job_id, actor=ADMIN, amount=100, reason="x" * 501)
    with pytest.raises(Conflict, match="more than is left"):
        preview_refund(ctx, job_id, actor=ADMIN, amount=6001)

    assert len(credit_notes(sandbox, invoice_id)) == 1
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (6000, 1)
        assert [r.amount for r in refunds_of(session, job_id)] == [4000]
        assert len(audit_rows(session, job_id)) == 1


def test_unpaid_hand_paid_and_disputed_jobs_and_other_roles_are_refused(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    unpaid, unpaid_invoice = invoiced_job(ctx, market)
    with pytest.raises(Conflict, match="is completed and not paid"):
        refund_job(ctx, unpaid, actor=ADMIN, reason="Why not")

    by_hand, _ = invoiced_job(ctx, market)
    record_manual_payment(ctx, job_id=by_hand, actor=ADMIN, reason="Paid in cash")
    with pytest.raises(Conflict, match="paid by hand .* give the money back outside Stripe"):
        preview_refund(ctx, by_hand, actor=ADMIN)

    disputed, disputed_invoice = paid_job(ctx, sandbox, market, 8000, card="dispute")
    with pytest.raises(Conflict, match="is disputed: \\$80.00 is held"):
        refund_job(ctx, disputed, actor=ADMIN, reason="Customer complained")

    paid, paid_invoice = paid_job(ctx, sandbox, market, 7000)
    for actor in (Actor("finance", 2), market.provider, Actor("customer", market.customer_id)):
        with pytest.raises(Forbidden, match="Refunds are for admins; finance staff and providers"):
            refund_job(ctx, paid, actor=actor, reason="Asked")
        with pytest.raises(Forbidden):
            preview_refund(ctx, paid, actor=actor)

    for invoice_id in (unpaid_invoice, disputed_invoice, paid_invoice):
        assert credit_notes(sandbox, invoice_id) == []
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(StripeRefund)).all() == []
        assert session.scalars(select(AuditLog).where(AuditLog.action == AUDIT_ACTION)).all() == []


def test_a_refusal_by_stripe_is_audited_and_told_in_stripes_words(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 6000)
    words = "Charge ch_1 has been charged back; cannot issue a refund."
    sandbox.fault("/v1/credit_notes", method="POST", status=400, message=words)

    with pytest.raises(InvalidStripeRequest) as refused:
        refund_job(ctx, job_id, actor=ADMIN, amount=1000, reason="Scratched floor")
    assert refused.value.message == (
        f"Stripe refused to refund $10.00 of job #{job_id}: {words} Nothing was refunded."
    )
    with session_scope(ctx.sessions) as session:
        [entry] = audit_rows(session, job_id)
        assert (entry.result, entry.reason, entry.error) == (
            "failed",
            "Scratched floor",
            refused.value.message,
        )
        assert refunds_of(session, job_id) == []
        assert figures(session, market.provider_id) == (6000, 1)
    assert credit_notes(sandbox, invoice_id) == []


def test_after_a_lost_answer_the_same_refund_again_makes_one_credit_note(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 12000)
    # Stripe makes the credit note, and every answer (the SDK's retries too) is lost.
    sandbox.fault("/v1/credit_notes", method="POST", status=500, when="after", count=3)
    with pytest.raises(StripeUnavailable, match="Running the same refund again refunds it once"):
        refund_job(ctx, job_id, actor=ADMIN, amount=3000, reason="Broken tile")
    sandbox.http.delete("/_sandbox/faults").raise_for_status()
    assert sandbox.drain(timeout=20) == 0  # its webhooks record the refund meanwhile
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (9000, 1)

    again = refund_job(ctx, job_id, actor=ADMIN, amount=3000, reason="Broken tile")
    assert again.replayed and again.left_to_refund == 9000
    assert credit_notes(sandbox, invoice_id) == [again.credit_note_id]
    with session_scope(ctx.sessions) as session:
        assert figures(session, market.provider_id) == (9000, 1)
        assert [e.result for e in audit_rows(session, job_id)] == ["failed", "ok"]
        assert ledger_mismatches(session) == []


def test_a_request_prepared_before_someone_elses_refund_is_refused(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService, market: Market
) -> None:
    job_id, invoice_id = paid_job(ctx, sandbox, market, 10000)
    refund_job(ctx, job_id, actor=Actor("admin", 2), amount=2500, reason="First admin")
    with pytest.raises(Conflict, match=r"changed since the preview: \$25.00 is refunded now"):
        refund_job(ctx, job_id, actor=ADMIN, amount=3000, reason="Second admin", refunded_before=0)
    assert len(credit_notes(sandbox, invoice_id)) == 1
    # Both asking the same, having seen the same, is one request: the refund already made.
    same = refund_job(
        ctx, job_id, actor=ADMIN, amount=2500, reason="First admin", refunded_before=0
    )
    assert same.replayed and len(credit_notes(sandbox, invoice_id)) == 1
