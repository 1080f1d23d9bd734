"""What people are told when money moves back: the texts of the refund and dispute
notifications, and who gets which (the customer hears of refunds; the provider of refunds
and of every step of a dispute, since it holds or takes their earnings).

The handlers call these after recording the refund or dispute and settling the job, in
the same transaction, so the job's totals read here already count it. The e-mails of these
kinds read the refund or dispute itself when they are sent (core.notify.money_back_facts).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db.models import utcnow
from core.money import format_cents
from core.notify import notifications
from core.notify.money_back_facts import (
    DISPUTE_KINDS,
    REFUND_TO_CUSTOMER,
    REFUND_TO_PROVIDER,
    dispute_told,
    paid_and_still_paid,
)

# Said to the customer with every refund: when they will see the money.
BANK_DELAY = "It goes back the way you paid; banks usually take 5–10 business days to show it."


def _reason(memo: str | None) -> str:
    return f"\nReason: {memo.strip()}" if memo and memo.strip() else ""


def refunded(
    session: Session,
    *,
    job_id: int,
    customer_id: int,
    provider_id: int,
    amount: int,
    currency: str,
    service_name: str,
    whole: bool,
    memo: str | None,
) -> None:
    """Both sides told of one refund (`whole`: the payment is now refunded in full)."""
    paid, still_paid = paid_and_still_paid(session, job_id)
    money, paid_money = format_cents(amount, currency), format_cents(paid, currency)
    if whole and amount >= paid:
        told_customer = (
            f"We have refunded your payment of {money} for {service_name} (job #{job_id}) in full."
        )
        told_provider = (
            f"The payment of {money} for job #{job_id} ({service_name}) was refunded to the "
            "customer in full. It comes off your earnings, and the job no longer counts "
            "among your paid jobs."
        )
    elif whole:
        told_customer = (
            f"We have refunded {money} of your {paid_money} payment for {service_name} "
            f"(job #{job_id}). Your payment is now refunded in full."
        )
        told_provider = (
            f"{money} of the {paid_money} paid for job #{job_id} ({service_name}) was "
            "refunded to the customer, so the payment is now refunded in full. It comes off "
            "your earnings, and the job no longer counts among your paid jobs."
        )
    else:
        left = format_cents(still_paid, currency)
        told_customer = (
            f"We have refunded {money} of your {paid_money} payment for {service_name} "
            f"(job #{job_id}). You have now paid {left} for this job."
        )
        told_provider = (
            f"{money} of the {paid_money} paid for job #{job_id} ({service_name}) was "
            f"refunded to the customer. It comes off your earnings; you keep {left} for "
            "this job."
        )
    why = _reason(memo)
    notifications.notify_all(
        session,
        [
            notifications.Note(
                "customer",
                customer_id,
                REFUND_TO_CUSTOMER,
                f"Refund of {money} for {service_name}",
                f"{told_customer} {BANK_DELAY}{why}",
                job_id,
            ),
            notifications.Note(
                "provider",
                provider_id,
                REFUND_TO_PROVIDER,
                f"Refund of {money} on job #{job_id}",
                f"{told_provider}{why}",
                job_id,
            ),
        ],
    )


def _answer_by(session: Session, job_id: int) -> str:
    """When our answer to the job's dispute is due, when Stripe has said."""
    dispute = dispute_told(session, job_id, utcnow())
    due = dispute.evidence_due_by if dispute is not None else None
    return f" by {due:%B} {due.day}, {due.year}" if due is not None else ""


def dispute_step(
    session: Session,
    *,
    step: str,
    job_id: int,
    provider_id: int,
    amount: int,
    currency: str,
) -> None:
    """The provider told that a dispute opened, was won, or was lost."""
    money = format_cents(amount, currency)
    if step == "opened":
        title = f"Payment disputed on job #{job_id}: {money} held"
        body = (
            f"The customer's bank has disputed the payment of job #{job_id}. {money} is held "
            "until the bank decides: your earnings do not change meanwhile, and the amount "
            "is shown as held. We answer the dispute with the job's records"
            f"{_answer_by(session, job_id)}. If the bank decides for you, the money is "
            f"released; if it decides for the customer, {money} comes off your earnings."
        )
    elif step == "won":
        title = f"Dispute won on job #{job_id}: {money} released"
        body = (
            f"The customer's bank decided the dispute of job #{job_id} in your favour. The "
            f"{money} held is released; your earnings are unchanged."
        )
    elif step == "lost":
        title = f"Dispute lost on job #{job_id}: {money} taken back"
        body = (
            f"The customer's bank decided the dispute of job #{job_id} for the customer: "
            f"{money} has been taken off your earnings."
        )
    else:
        raise ValueError(f"{step!r} is not a step of a dispute")
    notifications.notify_all(
        session,
        [notifications.Note("provider", provider_id, DISPUTE_KINDS[step], title, body, job_id)],
    )
