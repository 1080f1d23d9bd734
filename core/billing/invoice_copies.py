"""Our copies of Stripe's invoices (`stripe_invoices`), and the rule for the invoice that
counts for a job.

Copies are kept from API answers and webhook events, and only move forward: a copy is
replaced only by one whose status ranks at least as high (draft < open < uncollectible <
paid/void), so a late `invoice.sent` can never turn a paid invoice back to open.

**The current invoice** of a job is the one the customer is asked to pay, shown by the
dashboard and the API, resumed and resent by invoicing, kept by reconciliation and
counted by reports. The rule, written here once (`pick_current`):

1. paid beats open, open beats draft, draft beats uncollectible, uncollectible beats void;
2. among equals, the one we sent the customer first (our own send record, `sent_at`);
3. then the oldest, by Stripe's creation time (and its id, so the choice is stable).

Every write of a copy re-applies the rule in the same transaction and marks exactly one
copy per job `is_current` (a partial unique index holds it to one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from core.billing.invoice_status import PROGRESS_RANK
from core.billing.stripe_objects import InvoiceInfo
from core.db.dml import Precompiled, plain
from core.db.models import Base, Job, StripeInvoice, utcnow
from core.db.session import session_scope

# Lower is preferred as the job's current invoice.
CURRENT_PREFERENCE = {"paid": 0, "open": 1, "draft": 2, "uncollectible": 3, "void": 4}


class Candidate(Protocol):
    """What the rule looks at: any invoice-like object with these attributes."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created(self) -> datetime: ...


C = TypeVar("C", bound=Candidate)


@dataclass(frozen=True)
class _Copy:
    id: str
    status: str
    created: datetime
    sent_at: datetime | None
    is_current: bool


def pick_current(invoices: Iterable[C], sent_at: dict[str, datetime] | None = None) -> C | None:
    """The job's current invoice among `invoices` (see the module's rule); None if none.

    `sent_at` maps invoice ids to when we sent them; ids it lacks were never sent by us.
    """
    sent = sent_at or {}

    def preference(invoice: C) -> tuple[int, bool, datetime, datetime, str]:
        when = sent.get(invoice.id)
        return (
            CURRENT_PREFERENCE.get(invoice.status, len(CURRENT_PREFERENCE)),
            when is None,
            when or invoice.created,
            invoice.created,
            invoice.id,
        )

    return min(invoices, key=preference, default=None)


# What a newer copy of an invoice replaces; the job and payment it is held for stay as first
# recorded (or as an admin attached it): metadata edited in Stripe later does not move it.
_MOVING = (
    "customer",
    "status",
    "status_rank",
    "number",
    "currency",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "created",
    "due_date",
    "paid_at",
    "hosted_invoice_url",
    "invoice_pdf",
)
_COPIES = Base.metadata.tables["stripe_invoices"]
_SET_SENT = Precompiled(
    plain(
        update(_COPIES)
        .where(_COPIES.c.invoice_id == bindparam("b_invoice"), _COPIES.c.sent_at.is_(None))
        .values(sent_at=bindparam("b_sent_at"))
    )
)


def _build_upsert(insert: Any) -> Any:
    """Insert the copy, or move it forward: only to a status of equal or higher rank, and
    only when something differs. RETURNING gives a row exactly when the copy was written."""
    statement = insert(_COPIES)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_COPIES.c.invoice_id],
        set_={**{name: new[name] for name in _MOVING}, "updated_at": new.updated_at},
        where=and_(
            _COPIES.c.status_rank <= new.status_rank,
            or_(*(_COPIES.c[name].is_distinct_from(new[name]) for name in _MOVING)),
        ),
    ).returning(_COPIES.c.is_current, _COPIES.c.status)


_UPSERT = Precompiled(
    _build_upsert,
    column_keys=("invoice_id", "job_id", "payment_id", *_MOVING, "updated_at", "is_current")
    + ("sent_at",),
)


def remember_invoice(
    session: Session,
    info: InvoiceInfo,
    *,
    sent_at: datetime | None = None,
    job_locked: bool = False,
) -> None:
    """Write our copy of `info` (forward only) and re-mark the job's current invoice.

    `sent_at`: we (or Stripe, by `invoice.sent`) sent it to the customer at that moment;
    the first such moment is kept. `job_locked`: this transaction holds the job's row
    lock already (else it is taken here, before any copy is written).

    One statement writes the copy (or nothing, when our copy is as new and says the
    same); the current invoice is re-marked only when the write could change which copy
    it is. A copy that was current and is now paid stays current: paid is the most
    preferred status, and what breaks ties between paid copies (our send record, Stripe's
    creation time) did not move.
    """
    job_exists = info.job_id is not None and (job_locked or lock_job(session, info.job_id))
    connection = session.connection()
    written = _UPSERT.execute(
        connection,
        {
            "invoice_id": info.id,
            "job_id": info.job_id,
            "payment_id": info.payment_id,
            "customer": info.customer,
            "status": info.status,
            "status_rank": PROGRESS_RANK.get(info.status, 0),
            "number": info.number,
            "currency": info.currency,
            "amount_due": info.amount_due,
            "amount_paid": info.amount_paid,
            "amount_remaining": info.amount_remaining,
            "created": info.created,
            "due_date": info.due_date,
            "paid_at": info.paid_at,
            "hosted_invoice_url": info.hosted_invoice_url,
            "invoice_pdf": info.invoice_pdf,
            "updated_at": utcnow(),
            "is_current": False,
            "sent_at": sent_at,
        },
    ).first()
    remark = written is not None and not (written.is_current and written.status == "paid")
    if sent_at is not None:
        recorded = _SET_SENT.execute(connection, {"b_invoice": info.id, "b_sent_at": sent_at})
        remark = remark or recorded.rowcount == 1
    if remark and info.job_id is not None and job_exists:
        mark_current(session, info.job_id)


def mark_current(session: Session, job_id: int) -> str | None:
    """Apply the rule to the job's copies; returns the current invoice's id."""
    copies = [
        _Copy(*row)
        for row in session.execute(
            select(
                StripeInvoice.invoice_id,
                StripeInvoice.status,
                StripeInvoice.created,
                StripeInvoice.sent_at,
                StripeInvoice.is_current,
            ).where(StripeInvoice.job_id == job_id)
        )
    ]
    chosen = pick_current(copies, {c.id: c.sent_at for c in copies if c.sent_at is not None})
    if chosen is None or chosen.is_current:
        return chosen.id if chosen else None
    # Clear first, then set: the unique index allows one current copy at every moment.
    session.execute(
        update(StripeInvoice)
        .where(StripeInvoice.job_id == job_id, StripeInvoice.is_current)
        .values(is_current=False)
    )
    session.execute(
        update(StripeInvoice).where(StripeInvoice.invoice_id == chosen.id).values(is_current=True)
    )
    return chosen.id


def hold_for_job(session: Session, info: InvoiceInfo, *, job_id: int, payment_id: int) -> None:
    """Record `info` as the invoice of this job, whatever its metadata says (an admin
    attaching a payment to the right job), and re-mark the current invoice of both jobs."""
    lock_job(session, job_id)
    previous = session.scalar(
        select(StripeInvoice.job_id).where(StripeInvoice.invoice_id == info.id)
    )
    remember_invoice(session, info)
    session.execute(
        update(StripeInvoice)
        .where(StripeInvoice.invoice_id == info.id)
        .values(job_id=job_id, payment_id=payment_id, is_current=False)
    )
    mark_current(session, job_id)
    if previous is not None and previous != job_id:
        mark_current(session, previous)


def forget_invoice(session: Session, invoice_id: str) -> None:
    """Drop our copy of an invoice Stripe no longer has (a deleted draft), and re-mark the
    job's current invoice among what is left."""
    job_id = session.scalar(
        select(StripeInvoice.job_id).where(StripeInvoice.invoice_id == invoice_id)
    )
    job_exists = job_id is not None and lock_job(session, job_id)
    session.execute(delete(StripeInvoice).where(StripeInvoice.invoice_id == invoice_id))
    if job_id is not None and job_exists:
        mark_current(session, job_id)


def lock_job(session: Session, job_id: int) -> bool:
    """Lock the job's row for this transaction; False when there is no such job.

    Every writer of a job's invoices or money locks the job first (PostgreSQL; SQLite's
    single writer serializes anyway), so concurrent writers queue in one order: two
    transactions writing invoices of one job mark its current invoice one after the
    other, and none can deadlock another.
    """
    return session.scalar(select(Job.id).where(Job.id == job_id).with_for_update()) is not None


def forget_invoice_now(sessions: sessionmaker[Session], invoice_id: str) -> None:
    with session_scope(sessions) as session:
        forget_invoice(session, invoice_id)


def remember_invoice_now(
    sessions: sessionmaker[Session], info: InvoiceInfo, *, sent_at: datetime | None = None
) -> None:
    with session_scope(sessions) as session:
        remember_invoice(session, info, sent_at=sent_at)


def current_copy(session: Session, job_id: int) -> StripeInvoice | None:
    """Our copy of the job's current invoice, if we have one."""
    return session.scalar(
        select(StripeInvoice).where(StripeInvoice.job_id == job_id, StripeInvoice.is_current)
    )


@dataclass(frozen=True)
class InvoiceRecord:
    """What our copy says of an invoice that Stripe's answer does not."""

    job_id: int | None  # the job we hold it for (metadata can be edited in Stripe)
    sent_at: datetime | None
    is_current: bool


def invoice_records(
    session: Session, created_from: datetime | None = None
) -> dict[str, InvoiceRecord]:
    """Our record of every invoice (created since `created_from`), by invoice id."""
    query = select(
        StripeInvoice.invoice_id,
        StripeInvoice.job_id,
        StripeInvoice.sent_at,
        StripeInvoice.is_current,
    )
    if created_from is not None:
        query = query.where(StripeInvoice.created >= created_from)
    return {
        invoice_id: InvoiceRecord(job_id, sent_at, is_current)
        for invoice_id, job_id, sent_at, is_current in session.execute(query)
    }


def current_invoice_of_job() -> ColumnElement[bool]:
    """Join condition from `jobs` to the job's current invoice copy (outer-join it: a job
    not yet invoiced has none)."""
    return and_(StripeInvoice.job_id == Job.id, StripeInvoice.is_current)
