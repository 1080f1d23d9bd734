"""Queueing e-mail: an `email_outbox` row for each notification that should reach a person's
inbox, written in the transaction that writes the notification, so a committed
notification always has its message and a rolled-back one never does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from core.db.dml import Precompiled, plain
from core.db.models import EMAIL_STATUSES, Base, EmailMessage

# Which notification kinds are also e-mailed. A kind not listed is not: a new kind is
# e-mailed only once someone decides it should be.
EMAILED_KINDS: dict[str, bool] = {
    "payment_confirmed": True,  # the customer's receipt
    "payment_received": True,  # the provider learns the money came in
    "payment_failed": True,  # the customer can try again from the link
    "invoice_sent": False,  # Stripe e-mails the invoice itself when it is sent
    # Money moving back. Each changes what someone paid or earns, so each is worth an
    # e-mail they can keep; none comes often enough to be noise.
    # The customer's refund receipt: how much, and when they will see it. We send the
    # payment's receipt ourselves (payment_confirmed), so its refunds' receipts too.
    "refund": True,
    "refund_recorded": True,  # the provider's earnings go down by the refund
    "dispute_opened": True,  # the provider's money is held until the bank decides
    "dispute_lost": True,  # the held money is taken off the provider's earnings
    # Won changes no figure, but it closes what the opened e-mail began: without it the
    # provider would have to come and look whether their money was still held.
    "dispute_won": True,
}

_OUTBOX = Base.metadata.tables["email_outbox"]
_QUEUES: dict[int, Precompiled] = {}


def is_emailed(kind: str) -> bool:
    return EMAILED_KINDS.get(kind, False)


def _queue_of(count: int) -> Precompiled:
    """INSERT ... SELECT for `count` notification ids, built once per count. The address
    comes from the recipient's row; a recipient we do not find gets an empty address, which
    the worker fails as such, rather than a constraint error that would roll back the
    payment that wrote the notification."""
    statement = _QUEUES.get(count)
    if statement is None:
        ids = ", ".join(f":id{n}" for n in range(count))
        sql = text(
            "INSERT INTO email_outbox (message_key, kind, notification_id, job_id, to_address,"
            " status, attempts, next_attempt_at, created_at)"
            " SELECT 'notification:' || CAST(n.id AS VARCHAR(20)), n.kind, n.id, n.job_id,"
            " COALESCE(CASE n.recipient_kind WHEN 'customer' THEN c.email ELSE p.email END, ''),"
            " 'queued', 0, :now, :now"
            " FROM notifications n"
            " LEFT JOIN customers c ON n.recipient_kind = 'customer' AND c.id = n.recipient_id"
            " LEFT JOIN service_providers p"
            " ON n.recipient_kind = 'provider' AND p.id = n.recipient_id"
            f" WHERE n.id IN ({ids})"
        ).bindparams(
            bindparam("now", type_=_OUTBOX.c.created_at.type),
            *(bindparam(f"id{n}", type_=_OUTBOX.c.notification_id.type) for n in range(count)),
        )
        statement = _QUEUES[count] = Precompiled(plain(sql))
    return statement


def queue_for_notifications(session: Session, ids: Sequence[int], now: datetime) -> None:
    """One outbox row per notification id given (the caller passes those of e-mailed kinds),
    in one statement."""
    if not ids:
        return
    values: dict[str, object] = {"now": now, **{f"id{n}": id_ for n, id_ in enumerate(ids)}}
    _queue_of(len(ids)).execute(session.connection(), values)


def count_by_status(session: Session, statuses: Sequence[str] = EMAIL_STATUSES) -> dict[str, int]:
    """How many messages are in each of `statuses`, every one named (0 when none).

    Counted through the (status, next_attempt_at) index, one range a status: asking for
    the statuses still in the outbox's hands reads a few rows however many were sent."""
    counts = dict.fromkeys(statuses, 0)
    rows = session.execute(
        select(EmailMessage.status, func.count())
        .where(EmailMessage.status.in_(statuses))
        .group_by(EmailMessage.status)
    )
    counts.update({str(status): int(count) for status, count in rows})
    return counts
