"""Money in: applying a paid Stripe invoice, or a payment taken by hand, to a payment row.

One function (`apply_invoice_payment`) serves the `invoice.paid` webhook and
reconciliation's repair of a missed one, so both check the same things and credit the
same way; `credit_payment` is the exactly-once credit underneath, also used for cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from core import audit
from core.billing.customers import known_stripe_customer
from core.billing.invoice_copies import lock_job
from core.billing.money_back import settle
from core.billing.stripe_objects import InvoiceInfo
from core.db.dml import Precompiled, plain
from core.db.models import Base
from core.money import format_cents
from core.notify import notifications

_JOBS = Base.metadata.tables["jobs"]
_PAYMENTS = Base.metadata.tables["payments"]
_PROVIDERS = Base.metadata.tables["service_providers"]
_SERVICES = Base.metadata.tables["services"]

# The credit's statements, built once: plain statements on the tables (no ORM objects are
# loaded or synchronized), each conditional so that only a forward move can happen.
_RECEIVE = (
    update(_PAYMENTS)
    .where(_PAYMENTS.c.id == bindparam("b_payment"), _PAYMENTS.c.status == "pending")
    .values(status="received", method=bindparam("b_method"), marked_at=bindparam("b_paid_at"))
)
_PAY_JOB = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("b_job"),
        or_(_JOBS.c.status == "new", _JOBS.c.status == "completed"),
    )
    .values(status="paid", paid_at=bindparam("b_paid_at"))
)
_CREDIT_PROVIDER = (
    update(_PROVIDERS)
    .where(_PROVIDERS.c.id == bindparam("b_provider"))
    .values(
        earnings=_PROVIDERS.c.earnings + bindparam("b_amount"),
        total_jobs=_PROVIDERS.c.total_jobs + 1,
    )
)
_SERVICE_NAME = select(_SERVICES.c.name).where(_SERVICES.c.id == bindparam("b_service"))


def _credit_in_one_statement() -> Any:
    """The three updates above as one PostgreSQL statement (one round trip): the job and
    the provider move only if the payment did. The job's and payment's rows are locked
    before (see `credit_payment`), so the only lock it waits for is the provider's."""
    received = _RECEIVE.returning(_PAYMENTS.c.id).cte("received")
    moved = select(received.c.id).exists()
    paid = _PAY_JOB.where(moved).returning(_JOBS.c.id).cte("paid")
    credited = _CREDIT_PROVIDER.where(moved).returning(_PROVIDERS.c.id).cte("credited")
    return select(func.count()).select_from(received).add_cte(paid, credited)


_CREDIT = Precompiled(plain(_credit_in_one_statement()))
_RECEIVE_ONLY = Precompiled(plain(_RECEIVE))
_PAY_JOB_ONLY = Precompiled(plain(_PAY_JOB))
_CREDIT_PROVIDER_ONLY = Precompiled(plain(_CREDIT_PROVIDER))
_SERVICE_NAME_OF = Precompiled(plain(_SERVICE_NAME))
_MONEY_BACK = Base.metadata.tables["job_money_back"]
_HAS_MONEY_BACK = Precompiled(
    plain(select(_MONEY_BACK.c.job_id).where(_MONEY_BACK.c.job_id == bindparam("b_job")))
)


class JobFacts(Protocol):
    """What crediting reads of a job: a `Job` row, or the facts read with it."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def provider_id(self) -> int: ...
    @property
    def service_id(self) -> int: ...


class PaymentFacts(Protocol):
    """What crediting reads of a payment: a `Payment` row, or the facts read with it."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def amount(self) -> int: ...


@dataclass(frozen=True)
class Outcome:
    """What handling did: `applied`, `duplicate`, `orphan`, `amount_mismatch`, ..."""

    outcome: str
    detail: str | None = None
    # The job the event turned out to be about, when its metadata did not say (a refund
    # found through its payment): kept on the event's row, for the job's timeline.
    job_id: int | None = None


def refusal(session: Session, *, invoice: InvoiceInfo, job: JobFacts, currency: str) -> str | None:
    """Why an invoice must not touch this job's money or customer, or None when it may.

    Metadata is a hint anyone with access to the Stripe account can edit; the invoice's
    customer and currency are checked against our own records before anything moves.
    """
    return mismatch(
        invoice,
        job_id=job.id,
        customer=known_stripe_customer(session, job.customer_id),
        currency=currency,
    )


def paid_for_another_amount(invoice: InvoiceInfo, amount: int) -> bool:
    """A paid invoice that settled another sum than the payment's: never the job's invoice
    (it would become its current one), never credited; a person decides."""
    return invoice.status == "paid" and invoice.amount_paid != amount


def mismatch(
    invoice: InvoiceInfo, *, job_id: int, customer: str | None, currency: str
) -> str | None:
    """`refusal` on facts already read: the job customer's Stripe customer (None when we
    never invoiced them) and our currency."""
    if invoice.currency != currency:
        return f"the invoice is in {invoice.currency.upper()}; this system bills {currency.upper()}"
    if customer is None:
        return f"job #{job_id}'s customer was never invoiced through this system"
    if invoice.customer != customer:
        return (
            f"the invoice belongs to Stripe customer {invoice.customer}, "
            f"not to job #{job_id}'s customer ({customer})"
        )
    return None


def apply_invoice_payment(
    session: Session,
    *,
    job: JobFacts,
    payment: PaymentFacts,
    invoice: InvoiceInfo,
    paid_at: datetime,
    currency: str,
    audit_entry: dict[str, Any] | None = None,
    known_customer: str | None = None,
    service_name: str | None = None,
    job_locked: bool = False,
    money_back: bool | None = None,
) -> Outcome:
    """Credit the payment that a paid invoice settles: once, and only if it adds up (the
    invoice is the job customer's, in our currency, for the payment's amount, and the job
    was completed and not cancelled).

    `audit_entry` (actor, action, reason, ...) is written in this transaction when the
    credit is made, so the credit and its record stand or fall together.

    What the caller read already need not be read again: `known_customer` (the job
    customer's Stripe customer; looked up when None), `service_name` (for the customer's
    notification), `job_locked` (this transaction holds the job's row lock, taken
    before the job and payment facts were read) and `money_back` (whether a refund or
    dispute of the job is recorded; looked up when None).
    """
    if payment.status == "received":
        return Outcome("already_applied")
    if known_customer is None:
        known_customer = known_stripe_customer(session, job.customer_id)
    refused = mismatch(invoice, job_id=job.id, customer=known_customer, currency=currency)
    if refused is not None:
        return Outcome("rejected", refused)
    if job.status == "cancelled":
        return Outcome("job_cancelled", f"job #{job.id} was cancelled but its invoice was paid")
    if job.status != "completed":
        return Outcome("rejected", f"job #{job.id} is {job.status}: it was never completed")
    if invoice.amount_paid != payment.amount:
        # Never credit an amount we did not bill; an admin reconciles this by hand.
        return Outcome(
            "amount_mismatch",
            f"Stripe received {format_cents(invoice.amount_paid, invoice.currency)}; payment "
            f"#{payment.id} is for {format_cents(payment.amount, invoice.currency)}",
        )
    # A cash or cheque payment is credited by the admin action (method manual) before
    # Stripe is told, so the invoice.paid that follows finds it received already.
    if not credit_payment(
        session,
        job,
        payment,
        paid_at=paid_at,
        method="stripe",
        currency=invoice.currency,
        service_name=service_name,
        job_locked=job_locked,
        money_back=money_back,
    ):
        return Outcome("already_applied")  # a concurrent copy won the race
    if audit_entry is not None:
        audit.record(session, job_id=job.id, **audit_entry)
    return Outcome("applied")


def credit_payment(
    session: Session,
    job: JobFacts,
    payment: PaymentFacts,
    *,
    paid_at: datetime,
    method: str,
    currency: str = "usd",
    service_name: str | None = None,
    job_locked: bool = False,
    money_back: bool | None = None,
) -> bool:
    """Payment received, job paid, provider credited, both sides told: exactly once.

    The conditional update on the payment decides who wins a race; False means another
    transaction (a duplicate delivery, a reconciliation) already credited it. The job's
    row is locked first (unless `job_locked` says this transaction holds it already), then
    the payment's, then the provider's: every writer of a job's money takes them in that
    order, so none can deadlock another.

    A refund or dispute heard of before the payment (`money_back`: one is recorded; looked
    up when None) is settled against it in the same transaction (core.billing.money_back).
    """
    session.flush()  # the statements below are plain ones: pending ORM changes go first
    connection = session.connection()
    if not job_locked:
        lock_job(session, job.id)
    receive = {"b_payment": payment.id, "b_method": method, "b_paid_at": paid_at}
    pay_job = {"b_job": job.id, "b_paid_at": paid_at}
    credit = {"b_provider": job.provider_id, "b_amount": payment.amount}
    if connection.dialect.name == "postgresql":
        if _CREDIT.execute(connection, {**receive, **pay_job, **credit}).scalar() != 1:
            return False
    else:
        if _RECEIVE_ONLY.execute(connection, receive).rowcount != 1:
            return False
        _PAY_JOB_ONLY.execute(connection, pay_job)
        _CREDIT_PROVIDER_ONLY.execute(connection, credit)
    if service_name is None:
        service_name = service_name_of(session, job)
    confirmed = notifications.payment_confirmed(payment.amount, currency, service_name)
    received_text = notifications.payment_received(payment.amount, currency, job.id)
    notifications.notify_all(
        session,
        [
            notifications.Note(
                "customer", job.customer_id, "payment_confirmed", *confirmed, job.id
            ),
            notifications.Note(
                "provider", job.provider_id, "payment_received", *received_text, job.id
            ),
        ],
    )
    if money_back is None:
        money_back = _HAS_MONEY_BACK.execute(connection, {"b_job": job.id}).first() is not None
    if money_back:
        settle(session, job.id)
    _expire_rows(session, job, payment)
    return True


def _expire_rows(session: Session, *rows: object) -> None:
    """ORM rows a caller passed in no longer say what the database holds: reload them on
    their next read (rows of this session only; plain facts are left alone)."""
    for row in rows:
        if isinstance(row, Base) and row in session:
            session.expire(row)


def service_name_of(session: Session, job: JobFacts) -> str:
    name = _SERVICE_NAME_OF.execute(session.connection(), {"b_service": job.service_id}).scalar()
    return name if isinstance(name, str) else "your service"
