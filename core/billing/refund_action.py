"""An admin's refund of a paid job, in full or in part, through a Stripe credit note.

`refund_job` makes the checks of the preview (core.billing.refund_preview), then one
Stripe call with no transaction open (a credit note on the job's current invoice whose
whole amount is refunded to the card), then, in one transaction under the job's lock,
applies the refund exactly as its webhook would (core.billing.money_back_events
`apply_refund`) and writes the audit row. So the dashboard shows the refund at once, and
the webhooks that follow find it applied and change nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select

from core.audit import record, record_now
from core.billing.money_back_events import apply_refund, locked_paid_job
from core.billing.money_back_schema import CreditNoteObject, RefundObject
from core.billing.refund_preview import (
    JobMoney,
    RefundPreview,
    build_preview,
    preview_refund,
    read_job_money,
    read_now,
    stripe_words,
)
from core.context import AppContext
from core.db.models import AuditLog
from core.db.session import session_scope
from core.errors import Conflict, InvalidInput, InvalidStripeRequest, PaymentProviderError
from core.identity.actor import Actor
from core.identity.permissions import require
from core.money import format_cents

AUDIT_ACTION = "job.refunded"
MAX_REASON = 500  # it goes on the credit note the customer receives, and in the audit log
# Outcomes of apply_refund that leave our records as Stripe's: the refund counted once.
_HELD = ("refund_applied", "already_applied")

__all__ = [
    "AUDIT_ACTION",
    "MAX_REASON",
    "RefundPreview",
    "RefundResult",
    "check_reason",
    "preview_refund",
    "refund_job",
]


@dataclass(frozen=True)
class RefundResult:
    job_id: int
    amount: int
    credit_note_id: str
    refund_ids: tuple[str, ...]
    refunded: int  # of the job's payment, in all, after this refund
    left_to_refund: int
    provider_earnings_before: int
    provider_earnings: int
    refunded_in_full: bool
    replayed: bool  # the same request was made before; nothing more was refunded
    applied: bool  # False: Stripe refunded but our records could not take it (audited)
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["refund_ids"] = list(self.refund_ids)
        return data


@dataclass(frozen=True)
class _Attempt:
    """An earlier refund request of the job, as its audit row recorded it."""

    result: str  # ok, failed or drift
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.after.get("idempotency_key", ""))

    @property
    def answer_lost(self) -> bool:
        """Stripe did not answer (unreachable, timed out): it may have made the refund."""
        return self.result == "failed" and bool(self.after.get("answer_lost"))


def idempotency_key(job_id: int, refunded_before: int, lapsed: int, amount: int) -> str:
    """The key of one refund request, the same for every retry of it.

    Built from what the admin saw when asking (the amount already refunded then) and what
    they ask for, not from a fresh random value: a double click or a retry after a timeout
    or a crash carries the same figures, so Stripe answers it with the credit note it
    already made. A later refund of the same amount is asked after the first is recorded,
    so the amount already refunded, and the key, differ. The count of refunds that failed
    or were canceled is in it too: such a refund no longer counts as refunded, and asking
    it again must make a new credit note, not replay the one whose refund failed.
    """
    return f"refund:job-{job_id}:refunded-{refunded_before}:lapsed-{lapsed}:amount-{amount}"


def check_reason(reason: str) -> str:
    """The reason as kept (trimmed), or InvalidInput: blank, or too long for a credit note."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(
            "A reason is required; it is kept in the audit log and shown on the credit note."
        )
    if len(text) > MAX_REASON:
        raise InvalidInput(
            f"The reason is {len(text)} characters long; keep it to {MAX_REASON} (it is shown "
            "on the credit note)."
        )
    return text


def _attempts(ctx: AppContext, job_id: int) -> list[_Attempt]:
    with session_scope(ctx.readers) as session:
        rows = session.execute(
            select(AuditLog.result, AuditLog.before, AuditLog.after)
            .where(AuditLog.job_id == job_id, AuditLog.action == AUDIT_ACTION)
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        )
        return [_Attempt(result, before or {}, after or {}) for result, before, after in rows]


def refund_job(
    ctx: AppContext,
    job_id: int,
    *,
    actor: Actor,
    reason: str,
    amount: int | None = None,
    refunded_before: int | None = None,
) -> RefundResult:
    """Refund `amount` cents of the job's payment (all that is left when None) to the card.

    `refunded_before` is what the preview the admin confirmed showed as already refunded
    (`RefundPreview.already_refunded`); without it the figure is read now. A request sent
    again after its refund was recorded (a double click, a client retrying) finds the
    refund it made and returns it, `replayed`, instead of refunding twice; one sent after
    someone else's refund is refused, for the admin to look again. After a failure that
    left Stripe's answer unknown, the same request again (the same amount, or the rest) is
    sent with the same key, so Stripe makes its credit note once at most.

    A refusal by Stripe is audited and raised with Stripe's words; nothing changes here.
    """
    require(actor, "refund")
    memo = check_reason(reason)
    job = read_now(ctx, job_id, actor)
    attempts = _attempts(ctx, job_id)
    last = attempts[0] if attempts else None
    if (
        last is not None
        and last.answer_lost
        and amount in (None, last.after.get("amount"))
        and refunded_before in (None, last.before.get("refunded"))
    ):
        # The same request again, as it was first asked: Stripe settles whether it was made.
        seen = int(last.before["refunded"])
        preview = build_preview(replace(job, refunded=seen), int(last.after["amount"]))
        key = last.key
    elif refunded_before is not None and refunded_before != job.refunded:
        return _made_before(job, attempts, refunded_before, amount)
    else:
        preview = build_preview(job, amount)
        key = idempotency_key(job_id, job.refunded, job.lapsed, preview.amount)
    before = {
        "paid": preview.paid,
        "refunded": preview.already_refunded,
        "left_to_refund": preview.left_to_refund,
        "provider_earnings": preview.provider_earnings,
    }
    try:
        note = ctx.gateway.refund_by_credit_note(
            preview.invoice_id,
            refund_amount=preview.amount,
            memo=memo,
            metadata={"job_id": str(job_id), "payment_id": str(preview.payment_id)},
            idempotency_key=key,
        )
    except PaymentProviderError as error:
        refused = isinstance(error, InvalidStripeRequest)
        message = _failure_text(error, preview, refused=refused)
        record_now(
            ctx.sessions,
            actor=actor,
            action=AUDIT_ACTION,
            job_id=job_id,
            reason=memo,
            before=before,
            after={"amount": preview.amount, "idempotency_key": key, "answer_lost": not refused},
            result="failed",
            error=message,
        )
        raise type(error)(message) from error
    # Made by an earlier request: recorded here before this one began, or audited as done.
    made_before = note.id in job.credit_notes or any(
        a.key == key and a.result == "ok" for a in attempts
    )
    return _apply(
        ctx, preview, note, actor=actor, memo=memo, key=key, before=before, replayed=made_before
    )


def _made_before(
    job: JobMoney, attempts: list[_Attempt], refunded_before: int, amount: int | None
) -> RefundResult:
    """A request prepared when `refunded_before` was refunded: the refund it made, if it
    was made (a repeat of it); Conflict if the job changed by something else since."""
    asked = amount if amount is not None else job.paid - refunded_before - job.dispute_lost
    key = idempotency_key(job.job_id, refunded_before, job.lapsed, asked)
    for attempt in attempts:
        if attempt.key == key and attempt.result == "ok":
            return _result(job.job_id, attempt.before, attempt.after, job.currency, replayed=True)
    raise Conflict(
        f"Job #{job.job_id} changed since the preview: {job.money(job.refunded)} is refunded "
        f"now, {job.money(refunded_before)} was then. Look at it again before refunding."
    )


def _failure_text(error: PaymentProviderError, preview: RefundPreview, *, refused: bool) -> str:
    what = f"{format_cents(preview.amount, preview.currency)} of job #{preview.job_id}"
    if refused:
        return f"Stripe refused to refund {what}: {stripe_words(error)} Nothing was refunded."
    return (
        f"The refund of {what} did not complete: {error.message} Running the same refund "
        "again refunds it once at most."
    )


def _apply(
    ctx: AppContext,
    preview: RefundPreview,
    note: CreditNoteObject,
    *,
    actor: Actor,
    memo: str,
    key: str,
    before: dict[str, Any],
    replayed: bool,
) -> RefundResult:
    """Stripe's answer applied to our records with its audit row, in one transaction."""
    job_id = preview.job_id
    made = note.refunds_made()
    with session_scope(ctx.sessions) as session:
        job = locked_paid_job(session, job_id, preview.payment_id)
        if job is None:  # a payment never changes job, and jobs are never deleted
            raise Conflict(f"Job #{job_id} is no longer the job that was refunded")
        outcomes = [
            apply_refund(
                session,
                job,
                RefundObject(
                    id=refund_id,
                    object="refund",
                    amount=refunded,
                    currency=note.currency,
                    # The credit note does not say; the refund's own events move it on.
                    status="pending",
                    created=note.created,
                    reason=None,
                ),
                credit_note_id=note.id,
                memo=memo,
            )
            for refund_id, refunded in made
        ]
        now = read_job_money(session, job_id, actor, ctx.settings.currency)
        held = bool(outcomes) and all(o.outcome in _HELD for o in outcomes)
        problem = None
        if not held:
            trouble = next((o.detail for o in outcomes if o.outcome not in _HELD), None)
            problem = (
                f"Stripe made credit note {note.id}, but our records could not take its "
                f"refund: {trouble or 'the credit note refunded nothing'}. Reconciliation "
                "lists it."
            )
        after = {
            "amount": preview.amount,
            "refunded": now.refunded,
            "left_to_refund": now.left,
            "provider_earnings": now.provider_earnings,
            "refunded_in_full": now.left == 0,
            "credit_note_id": note.id,
            "refund_ids": [refund_id for refund_id, _ in made],
            "idempotency_key": key,
        }
        record(
            session,
            actor=actor,
            action=AUDIT_ACTION,
            job_id=job_id,
            reason=memo,
            before=before,
            after=after,
            result="ok" if held else "drift",
            error=problem,
        )
    return _result(job_id, before, after, now.currency, replayed=replayed, problem=problem)


def _result(
    job_id: int,
    before: dict[str, Any],
    after: dict[str, Any],
    currency: str,
    *,
    replayed: bool,
    problem: str | None = None,
) -> RefundResult:
    amount, left = int(after["amount"]), int(after["left_to_refund"])
    if problem:
        message = problem
    else:
        money = format_cents(amount, currency)
        message = (
            f"Job #{job_id} is refunded in full: {money} went back to the customer"
            if after["refunded_in_full"]
            else f"{money} of job #{job_id} went back to the customer; "
            f"{format_cents(left, currency)} is left to refund"
        ) + f" (credit note {after['credit_note_id']})."
        if replayed:
            message = "This refund was already made. " + message
    return RefundResult(
        job_id=job_id,
        amount=amount,
        credit_note_id=str(after["credit_note_id"]),
        refund_ids=tuple(after["refund_ids"]),
        refunded=int(after["refunded"]),
        left_to_refund=left,
        provider_earnings_before=int(before["provider_earnings"]),
        provider_earnings=int(after["provider_earnings"]),
        refunded_in_full=bool(after["refunded_in_full"]),
        replayed=replayed,
        applied=problem is None,
        message=message,
    )
