"""The database: the marketplace's domain tables and the integration's additive tables.

Domain tables carry no Stripe column; Stripe objects point at ours through metadata
(`user_id` on customers, `job_id` and `payment_id` on invoices). `stripe_events` and
`audit_log` belong to the integration and can be dropped without touching the domain.
Money is integer cents (BigInteger) everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.db.clock import clock_offset

JOB_STATUSES = ("new", "completed", "paid", "cancelled")
PAYMENT_STATUSES = ("pending", "received")
PAYMENT_METHODS = ("stripe", "manual")
RECIPIENT_KINDS = ("customer", "provider")


def utcnow() -> datetime:
    """Now, in UTC: real time, or the demo's clock when a run has one (core.db.clock)."""
    return datetime.now(UTC) + clock_offset()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime()}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceProvider(Base):
    __tablename__ = "service_providers"
    __table_args__ = (
        CheckConstraint("earnings >= 0", name="earnings_not_negative"),
        CheckConstraint("total_jobs >= 0", name="total_jobs_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    earnings: Mapped[int] = mapped_column(BigInteger, default=0)  # cents
    total_jobs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (CheckConstraint("base_price >= 0", name="base_price_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), index=True)
    base_price: Mapped[int] = mapped_column(BigInteger)  # cents


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status_known"),
        CheckConstraint("price > 0", name="price_positive"),
        Index("ix_jobs_status_completed_at", "status", "completed_at"),
        Index("ix_jobs_customer_id", "customer_id"),
        # Job lists are newest first, (created_at, id), within each filter they offer; a
        # provider's jobs also carry the service, so the provider's earnings can join their
        # jobs to payments from the index alone.
        Index("ix_jobs_created_at_id", "created_at", "id"),
        Index("ix_jobs_status_created_at", "status", "created_at", "id"),
        Index("ix_jobs_provider_created_at", "provider_id", "created_at", "id", "service_id"),
        Index("ix_jobs_provider_status_created_at", "provider_id", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("service_providers.id"))
    price: Mapped[int] = mapped_column(BigInteger)  # cents
    status: Mapped[str] = mapped_column(String(16), default="new")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]

    service: Mapped[Service] = relationship(lazy="raise")
    customer: Mapped[Customer] = relationship(lazy="raise")
    provider: Mapped[ServiceProvider] = relationship(lazy="raise")
    payment: Mapped[Payment] = relationship(back_populates="job", lazy="raise")


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_payments_status_marked_at", "status", "marked_at"),
        # A job's payment with what reads want of it, read from the index alone.
        Index("ix_payments_job_status_amount", "job_id", "status", "amount", "marked_at"),
        # Payment history pages newest first, (created_at, id).
        Index("ix_payments_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # cents
    status: Mapped[str] = mapped_column(String(16), default="pending")
    method: Mapped[str | None] = mapped_column(String(16))
    marked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="payment", lazy="raise")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("recipient_kind", RECIPIENT_KINDS), name="recipient_kind_known"),
        Index("ix_notifications_recipient", "recipient_kind", "recipient_id", "created_at"),
        Index("ix_notifications_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class StripeEvent(Base):
    """One row per Stripe event id: the unique key that makes webhook handling exactly-once."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_job_id", "job_id"),
        Index("ix_stripe_events_received_at", "received_at"),
        Index("ix_stripe_events_outcome", "outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime]  # when Stripe created the event
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    object_id: Mapped[str | None] = mapped_column(String(255))  # e.g. the invoice id
    job_id: Mapped[int | None] = mapped_column(Integer)  # from metadata; may name no job
    payment_id: Mapped[int | None] = mapped_column(Integer)
    # The body as Stripe signed it (up to PAYLOAD_LIMIT), for replay and diagnosis from
    # our own records rather than Stripe's 30-day event list.
    payload: Mapped[str | None] = mapped_column(Text)


class StripeCustomer(Base):
    """Our record of the Stripe customer of each of our customers (Stripe's `metadata.user_id`
    points back), so invoicing needs no search and webhooks can check an invoice's owner."""

    __tablename__ = "stripe_customers"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who did what to which job, when, why, and with what result."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_job_created", "job_id", "created_at"),
        # One action's entries newest first (the last drift check), with their jobs (each
        # job's latest invoice send, the overview), without reading the rest of the log.
        Index("ix_audit_log_action_id", "action", "id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    job_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)


class InvoiceLock(Base):
    """A short claim on invoicing one job, so two clicks or two processes make one invoice.

    Held between Stripe calls without an open transaction; a claim older than its lease is
    presumed abandoned by a crashed process and may be taken over.
    """

    __tablename__ = "invoice_locks"

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


ACCOUNT_ROLES = ("provider", "admin", "finance")


class Account(Base):
    """A dashboard sign-in: a provider (bound to one service provider), an admin, or finance."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_in("role", ACCOUNT_ROLES), name="role_known"),
        CheckConstraint(
            "(role = 'provider') = (provider_id IS NOT NULL)", name="provider_iff_bound"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased e-mail
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: single sign-on only
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("service_providers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]  # set: no sign-in, and its sessions are refused


class DashboardSignInTicket(Base):
    """A one-time, short-lived proof of a sign-in, traded for a session cookie.

    The sign-in page makes it after the password (or single sign-on) check and sends the
    browser with it to the route that sets the HttpOnly cookie, which a page cannot set.
    Only the ticket's SHA-256 is stored.
    """

    __tablename__ = "dashboard_sign_in_tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in browser: the session cookie names this row by its token's SHA-256.

    The role and provider binding are kept as they were at issue, so a change to either
    (or disabling the account) refuses the session instead of carrying it into the new role.
    """

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_because: Mapped[str | None] = mapped_column(String(40))


class LoginFailure(Base):
    """Failed sign-ins per username, known or not, so throttling reveals nothing."""

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeInvoice(Base):
    """Our copy of each Stripe invoice, kept from API answers and webhook events.

    It lets pages filter by invoice status, due date and overdue in SQL without asking
    Stripe once per row. Stripe stays the source of truth: the row only moves forward
    (by `status_rank`), and reconciliation re-reads Stripe to repair it. Exactly one copy
    per job is marked `is_current` (core.billing.invoice_copies keeps it so, in the
    transaction that writes the copy); `sent_at` is our own record of sending it.
    """

    __tablename__ = "stripe_invoices"
    __table_args__ = (
        Index("ix_stripe_invoices_job_id", "job_id"),
        Index("ix_stripe_invoices_status_due", "status", "due_date"),
        Index(
            "uq_stripe_invoices_current_job",
            "job_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        # Current copies by status and due date: overdue invoices, open ones for aging.
        # The predicates are written as each dialect renders `StripeInvoice.is_current` in a
        # query, which is what lets the planners use a partial index.
        Index(
            "ix_stripe_invoices_current_status_due",
            "status",
            "due_date",
            "job_id",
            "is_current",  # on SQLite, so the index covers a query that names it
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
    )

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    payment_id: Mapped[int | None] = mapped_column(Integer)
    customer: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    status_rank: Mapped[int] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_due: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    amount_remaining: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime]
    due_date: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sent_at: Mapped[datetime | None]


# Part of a customer's name, on PostgreSQL: trigrams (pg_trgm) answer `lower(name) LIKE
# '%...%'`, the job lists' customer search. SQLite has no index that can.
Index(
    "ix_customers_name_trgm",
    func.lower(Customer.name).label("name_lower"),
    postgresql_using="gin",
    postgresql_ops={"name_lower": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


EMAIL_STATUSES = ("queued", "sending", "sent", "failed", "not_configured")


class EmailMessage(Base):
    """The e-mail outbox: one row per message to deliver, written in the transaction that
    made its reason (a notification, a reminder), so a message is never lost and never made
    twice (`message_key` is unique). The delivery worker (core.notify.delivery) claims rows,
    renders and sends them, and records the outcome."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        CheckConstraint(_in("status", EMAIL_STATUSES), name="status_known"),
        Index("ix_email_outbox_due", "status", "next_attempt_at"),
        Index("ix_email_outbox_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(200))  # as sent; set at delivery
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]  # a worker's claim on a row in `sending`
    handed_at: Mapped[datetime | None]  # when the SMTP server accepted it
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderSent(Base):
    """A reminder step done for an invoice: the unique key makes each step happen once."""

    __tablename__ = "reminders_sent"
    __table_args__ = (Index("uq_reminders_sent_invoice_step", "invoice_id", "step", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(255))
    step: Mapped[int] = mapped_column(Integer)  # days from the due date (-3, 0, 3, ...)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderPause(Base):
    """A customer an admin has asked us not to chase, and why."""

    __tablename__ = "reminder_pauses"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(80))
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeInvoicePayment(Base):
    """The payment behind a paid invoice: Stripe's PaymentIntent, and the invoice (so the job)
    it paid. Stripe links them only through its InvoicePayment object (a Charge or a
    PaymentIntent names no invoice, and carries none of the invoice's metadata), so this
    row, kept from `invoice_payment.paid` events and from invoices read with their payments,
    is how a refund or a dispute of that payment finds its job."""

    __tablename__ = "stripe_invoice_payments"

    payment_intent_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(255), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    payment_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)  # cents Stripe took
    created: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


# A refund's status as Stripe names it; the money is on its way back in all but the last two.
REFUND_STATUSES = ("pending", "requires_action", "succeeded", "failed", "canceled")
# A dispute's status: open (the money is held) until won, lost or closed as a warning.
DISPUTE_STATUSES = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "prevented",
)


class StripeRefund(Base):
    """Money given back: one row per Stripe refund, however it was made (a credit note from
    our dashboard, Stripe's dashboard, the API). `applied` is what the row has taken off the
    provider's earnings so far (its amount once the payment is received and the refund is
    not failed or canceled, else 0): core.billing.money_back settles it, so a refund moves
    earnings once however often, and in whatever order, its events arrive."""

    __tablename__ = "stripe_refunds"
    __table_args__ = (
        CheckConstraint(_in("status", REFUND_STATUSES), name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("applied IN (0, amount)", name="applied_all_or_nothing"),
        Index("ix_stripe_refunds_created", "created"),
    )

    refund_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    payment_id: Mapped[int] = mapped_column(Integer)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    credit_note_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)  # cents
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))  # Stripe's reason code
    memo: Mapped[str | None] = mapped_column(Text)  # the person's reason, from the credit note
    created: Mapped[datetime]  # when Stripe made it: the refund date of reports
    applied: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeDispute(Base):
    """A customer's bank taking a payment back. While open its amount is held (shown apart
    from earnings); lost, it is taken off earnings once (`applied`); won, nothing changes."""

    __tablename__ = "stripe_disputes"
    __table_args__ = (
        CheckConstraint(_in("status", DISPUTE_STATUSES), name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("applied IN (0, amount)", name="applied_all_or_nothing"),
        Index("ix_stripe_disputes_created", "created"),
    )

    dispute_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    payment_id: Mapped[int] = mapped_column(Integer)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)  # cents
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[datetime]
    evidence_due_by: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    applied: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobMoneyBack(Base):
    """Per job with any refund or dispute: the totals that pages and lists filter on,
    written with the rows they sum, in the same transaction (core.billing.money_back)."""

    __tablename__ = "job_money_back"
    __table_args__ = (
        CheckConstraint("refunded >= 0 AND disputed >= 0 AND dispute_lost >= 0", name="positive"),
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)  # refunds not failed/canceled
    disputed: Mapped[int] = mapped_column(BigInteger, default=0)  # held by open disputes
    dispute_lost: Mapped[int] = mapped_column(BigInteger, default=0)
    taken_back: Mapped[int] = mapped_column(BigInteger, default=0)  # off earnings now
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
