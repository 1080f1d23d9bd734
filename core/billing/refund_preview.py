"""What an admin's refund of a paid job would do, and whether it can be made at all.

`preview_refund` changes nothing: what was paid, what is already refunded or held by a
dispute, what is left, the amount that would go back to the customer, and the provider's
earnings now and after. The refusals are the same for the refund itself
(core.billing.refund_action): a job not paid, one paid by hand (no card charge to refund),
a disputed payment (Stripe refuses refunds on a disputed charge), an amount of nothing or
more than is left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing import money_back
from core.billing.invoice_copies import current_copy
from core.context import AppContext
from core.db.models import JobMoneyBack, StripeDispute, StripeRefund
from core.db.session import session_scope
from core.errors import Conflict, InvalidInput, InvalidStripeRequest, PaymentProviderError
from core.identity.actor import Actor
from core.identity.permissions import load_job, require
from core.money import format_cents


@dataclass(frozen=True)
class JobMoney:
    """A paid job's money as our records have it, read in one transaction."""

    job_id: int
    job_status: str
    payment_id: int
    payment_status: str
    method: str | None
    paid: int
    currency: str
    service: str
    customer: str
    provider: str
    provider_earnings: int
    refunded: int  # refunds not failed or canceled
    lapsed: int  # how many refunds failed or were canceled
    taken_back: int  # off the provider's earnings now
    dispute_statuses: tuple[str, ...]
    disputed: int  # held by open disputes
    dispute_lost: int
    invoice_id: str | None
    invoice_status: str | None
    credit_notes: frozenset[str]  # those whose refunds we have recorded

    @property
    def left(self) -> int:
        return max(0, self.paid - self.refunded - self.dispute_lost)

    def money(self, cents: int) -> str:
        return format_cents(cents, self.currency)


@dataclass(frozen=True)
class RefundPreview:
    job_id: int
    payment_id: int
    invoice_id: str
    currency: str
    service: str
    customer: str
    provider: str
    paid: int
    already_refunded: int
    disputed: int
    left_to_refund: int
    amount: int  # what would go back to the customer
    provider_earnings: int
    provider_earnings_after: int
    job_earnings: int  # what this job brings the provider now
    job_earnings_after: int
    refunded_in_full: bool  # nothing of the payment would be left
    stripe_checked: bool = False  # Stripe previewed the credit note and would make it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_job_money(session: Session, job_id: int, actor: Actor, currency: str) -> JobMoney:
    """The job's money, if the actor may see the job (NotFound otherwise)."""
    job = load_job(session, job_id, actor)
    refunds = session.execute(
        select(StripeRefund.status, StripeRefund.amount, StripeRefund.credit_note_id).where(
            StripeRefund.job_id == job_id
        )
    ).all()
    disputes = session.execute(
        select(StripeDispute.status, StripeDispute.amount).where(StripeDispute.job_id == job_id)
    ).all()
    totals = session.get(JobMoneyBack, job_id)
    invoice = current_copy(session, job_id)
    return JobMoney(
        job_id=job_id,
        job_status=job.status,
        payment_id=job.payment.id,
        payment_status=job.payment.status,
        method=job.payment.method,
        paid=job.payment.amount,
        currency=invoice.currency if invoice and invoice.currency else currency,
        service=job.service.name,
        customer=job.customer.name,
        provider=job.provider.name,
        provider_earnings=job.provider.earnings,
        refunded=sum(amount for status, amount, _ in refunds if status in money_back.REFUND_COUNTS),
        lapsed=sum(1 for status, _, _ in refunds if status not in money_back.REFUND_COUNTS),
        taken_back=totals.taken_back if totals else 0,
        dispute_statuses=tuple(status for status, _ in disputes),
        disputed=sum(a for status, a in disputes if status in money_back.DISPUTE_OPEN),
        dispute_lost=sum(a for status, a in disputes if status == "lost"),
        invoice_id=invoice.invoice_id if invoice else None,
        invoice_status=invoice.status if invoice else None,
        credit_notes=frozenset(note for _, _, note in refunds if note),
    )


def refusal(job: JobMoney) -> str | None:
    """Why this job's payment cannot be refunded through Stripe, if it cannot."""
    name = f"Job #{job.job_id}"
    if job.job_status != "paid" or job.payment_status != "received":
        return f"{name} is {job.job_status} and not paid; only a paid job can be refunded."
    if job.method == "manual":
        return (
            f"{name} was paid by hand (cash or cheque), so there is no card charge to refund "
            "in Stripe; give the money back outside Stripe."
        )
    if job.disputed:
        return (
            f"{name}'s payment is disputed: {job.money(job.disputed)} is held until the "
            "dispute is decided, and Stripe refuses refunds on a disputed charge. Answer the "
            "dispute instead."
        )
    if job.dispute_statuses:
        # Stripe keeps a charge `disputed` for good, whatever the outcome.
        return (
            f"{name}'s payment was disputed (the dispute was {job.dispute_statuses[0]}), and "
            "Stripe refuses refunds on a charge that was disputed."
        )
    if job.invoice_id is None or job.invoice_status != "paid":
        return f"{name} has no paid Stripe invoice to refund."
    if job.left <= 0:
        return f"{name} is refunded in full already; nothing is left to refund."
    return None


def build_preview(job: JobMoney, amount: int | None) -> RefundPreview:
    """The preview of refunding `amount` (all that is left when None), or the refusal."""
    refused = refusal(job)
    if refused:
        raise Conflict(refused)
    if amount is None:
        amount = job.left
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput("The amount to refund must be a whole number of cents.")
    if amount <= 0:
        raise InvalidInput("The amount to refund must be at least 1 cent.")
    if amount > job.left:
        # Well-formed, but more than the job's state allows: a conflict, as for a paid job.
        raise Conflict(
            f"{job.money(amount)} is more than is left to refund on job #{job.job_id}: "
            f"{job.money(job.left)} (paid {job.money(job.paid)}, already refunded "
            f"{job.money(job.refunded)})."
        )
    assert job.invoice_id is not None  # refusal() saw a paid invoice
    job_earnings = job.paid - job.taken_back
    return RefundPreview(
        job_id=job.job_id,
        payment_id=job.payment_id,
        invoice_id=job.invoice_id,
        currency=job.currency,
        service=job.service,
        customer=job.customer,
        provider=job.provider,
        paid=job.paid,
        already_refunded=job.refunded,
        disputed=job.disputed,
        left_to_refund=job.left,
        amount=amount,
        provider_earnings=job.provider_earnings,
        provider_earnings_after=job.provider_earnings - amount,
        job_earnings=job_earnings,
        job_earnings_after=job_earnings - amount,
        refunded_in_full=job.refunded + amount >= job.paid,
    )


def read_now(ctx: AppContext, job_id: int, actor: Actor) -> JobMoney:
    with session_scope(ctx.readers) as session:
        return read_job_money(session, job_id, actor, ctx.settings.currency)


def stripe_words(error: PaymentProviderError) -> str:
    """Stripe's own sentence, without the gateway's "Stripe refused the request (step): "."""
    prefix = "Stripe refused the request ("
    if error.message.startswith(prefix) and "): " in error.message:
        return error.message.partition("): ")[2]
    return error.message


def preview_refund(
    ctx: AppContext,
    job_id: int,
    *,
    actor: Actor,
    amount: int | None = None,
    ask_stripe: bool = False,
) -> RefundPreview:
    """What refunding `amount` cents (all that is left when None) would do; nothing changes.

    Conflict when the job cannot be refunded (not paid, paid by hand, disputed) or the amount
    is more than is left, InvalidInput for an amount of nothing. Our records alone answer by
    default, so a page can preview on every change of the amount without calling Stripe;
    `ask_stripe` also has Stripe preview the credit note (one call, nothing made) for a
    caller about to confirm, and says in Stripe's words why it would refuse.
    """
    require(actor, "refund")
    preview = build_preview(read_now(ctx, job_id, actor), amount)
    if not ask_stripe:
        return preview
    try:
        ctx.gateway.preview_refund_credit_note(preview.invoice_id, refund_amount=preview.amount)
    except InvalidStripeRequest as error:
        raise Conflict(f"Stripe would refuse this refund: {stripe_words(error)}") from error
    return replace(preview, stripe_checked=True)
