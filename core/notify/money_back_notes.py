"""What people are told when money moves back: the texts of the refund and dispute
notifications, and who gets which (the customer hears of refunds; the provider of refunds
and of every step of a dispute, since it holds or takes their earnings)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.money import format_cents
from core.notify import notifications

# The customer's refund notice, and the provider's, by kind.
REFUND_TO_CUSTOMER = "refund"
REFUND_TO_PROVIDER = "refund_recorded"
DISPUTE_KINDS = {
    "opened": "dispute_opened",
    "won": "dispute_won",
    "lost": "dispute_lost",
}


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
    money = format_cents(amount, currency)
    why = f" Reason: {memo}" if memo else ""
    customer_body = (
        f"We have refunded {money} for {service_name}. It goes back the way you paid; "
        f"banks usually take 5-10 business days to show it.{why}"
    )
    left = "The job is now refunded in full." if whole else "The rest of the payment stands."
    provider_body = f"{money} of job #{job_id} was refunded to the customer. {left}{why}"
    notifications.notify_all(
        session,
        [
            notifications.Note(
                "customer", customer_id, REFUND_TO_CUSTOMER, "Refund issued", customer_body, job_id
            ),
            notifications.Note(
                "provider",
                provider_id,
                REFUND_TO_PROVIDER,
                f"Refund on job #{job_id}",
                provider_body,
                job_id,
            ),
        ],
    )


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
    title, body = {
        "opened": (
            f"Payment disputed on job #{job_id}",
            f"The customer's bank disputed the payment of job #{job_id}: {money} is held "
            "until the dispute is decided. We answer it with the job's records.",
        ),
        "won": (
            f"Dispute won on job #{job_id}",
            f"The dispute of job #{job_id} was decided in your favour: the {money} held is "
            "yours again.",
        ),
        "lost": (
            f"Dispute lost on job #{job_id}",
            f"The dispute of job #{job_id} was decided for the customer: {money} has been "
            "taken off your earnings.",
        ),
    }[step]
    notifications.notify_all(
        session,
        [notifications.Note("provider", provider_id, DISPUTE_KINDS[step], title, body, job_id)],
    )
