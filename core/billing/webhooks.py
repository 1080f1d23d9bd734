"""Stripe webhook intake: every delivery verified, validated, recorded and answered, and
each event applied exactly once.

`receive` (and `answer_or_work`, its two halves for an async caller) is the one place
that decides the answer:

- 400 for a body that is not a Stripe event at all (bad signature, stale, not JSON, no
  event envelope);
- 200 with a recorded outcome for every genuine event, including the ones we refuse
  (`malformed`, `rejected` with its reason, `orphan`, `amount_mismatch`, ...) and the ones a
  bug made us fail (`error`, with the traceback on the row);
- 500 only when the database could not take the event for a reason a retry can cure (it
  is unreachable, or the transaction lost a serialization or deadlock race), so Stripe
  delivers it again.

Each event id is claimed with an insert into `stripe_events` that does nothing on
conflict, inside the transaction that applies the change, so a duplicate, a concurrent
copy or a retry after success changes nothing. State only moves forward: updates are
conditional, so a late or reordered event cannot undo a payment.

The work is plain statements, compiled once per dialect (core.db.dml): a duplicate
costs the claim and one lookup; a first `invoice.paid` the claim, one read of the job,
payment, Stripe customer record and service name together (locking the job's row, then
the payment's, on PostgreSQL), the invoice copy's upsert, the conditional updates of
payment, job and provider (one statement on PostgreSQL), one insert of both
notifications, and the outcome. On SQLite, whose single writer waits for the disk at
every commit, the events that arrive while another commits are applied together and
committed at once (`_GroupCommit`): each answer still waits for its own durable commit.
A duplicate of an event this process has handled is answered from memory
(core.billing.handled_events), with no database work at all.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from core.billing import money_back_events
from core.billing.event_schema import MalformedObject, NotAStripeEvent, metadata_id
from core.billing.handled_events import handled_events
from core.billing.invoice_copies import remember_invoice
from core.billing.money_back_events import MONEY_BACK_EVENT_TYPES
from core.billing.payments import Outcome, mismatch, paid_for_another_amount
from core.billing.stripe_gateway import API_VERSION, StripeGateway
from core.billing.stripe_objects import EventInfo, InvoiceInfo
from core.billing.webhook_handlers import (
    HANDLERS,
    INVOICE_EVENT_TYPES,
    JobRow,
    PaymentRow,
    Target,
    subscribed_event_types,
)
from core.db.dml import Precompiled, plain
from core.db.models import Base, StripeEvent, utcnow
from core.db.session import insert_ignoring_conflict, session_scope
from core.observability.metrics import WEBHOOKS_REFUSED, record_webhook

__all__ = [
    "INVOICE_EVENT_TYPES",
    "Delivery",
    "Outcome",
    "ProcessedEvent",
    "WebhookProcessingFailed",
    "answer_or_work",
    "process_event",
    "receive",
    "subscribed_event_types",
]

log = logging.getLogger("core.billing.webhooks")

PAYLOAD_LIMIT = 256 * 1024  # characters of a body kept on its row; Stripe's are a few KiB
ERROR_LIMIT = 8000
# SQLSTATE classes a retry can cure: connection exceptions, serialization failures and
# deadlocks, insufficient resources, operator intervention (a restart).
RETRYABLE_SQLSTATES = ("08", "40001", "40P01", "53", "57P")


class WebhookProcessingFailed(Exception):
    """The database could not take the event; Stripe should deliver it again."""


@dataclass(frozen=True)
class ProcessedEvent:
    event_id: str
    type: str
    outcome: str
    detail: str | None
    job_id: int | None
    milliseconds: float


@dataclass(frozen=True)
class Delivery:
    """The answer to one webhook delivery: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


def _refused(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def receive(
    sessions: sessionmaker[Session],
    payload: bytes,
    signature: str | None,
    *,
    secret: str | Sequence[str],
    currency: str,
) -> Delivery:
    """Verify, record and apply one delivery, and say how to answer it."""
    answer = answer_or_work(sessions, payload, signature, secret=secret, currency=currency)
    return answer if isinstance(answer, Delivery) else answer()


def answer_or_work(
    sessions: sessionmaker[Session],
    payload: bytes,
    signature: str | None,
    *,
    secret: str | Sequence[str],
    currency: str,
) -> Delivery | Callable[[], Delivery]:
    """The answer, when it needs no database (not an event; a duplicate this process has
    handled), or else the database work that makes it, for the caller to run where
    blocking is fine (the service runs it in a worker thread, and answers the rest from
    its event loop without a thread hop)."""
    try:
        event = StripeGateway.verify_event(payload, signature, secret)
    except NotAStripeEvent as error:
        log.warning("stripe.webhook.not_an_event", extra={"reason": str(error)})
        WEBHOOKS_REFUSED.inc()
        return Delivery(400, _refused("invalid_webhook", str(error)))
    except ValueError as error:
        WEBHOOKS_REFUSED.inc()
        return Delivery(400, _refused("invalid_webhook", str(error)))
    if event.id in handled_events(sessions):
        _log(event, "duplicate", time.perf_counter())
        return Delivery(200, {"received": True, "event_id": event.id, "outcome": "duplicate"})

    def work() -> Delivery:
        try:
            processed = process_event(sessions, event, currency=currency)
        except WebhookProcessingFailed as error:
            return Delivery(500, _refused("database_unavailable", str(error)))
        body: dict[str, Any] = {
            "received": True,
            "event_id": processed.event_id,
            "outcome": processed.outcome,
        }
        if processed.detail:
            body["detail"] = processed.detail
        return Delivery(200, body)

    return work


def retryable(error: BaseException) -> bool:
    """A database failure that the same transaction, tried again later, can get past."""
    if isinstance(error, PoolTimeout | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    if isinstance(state, str):
        return state.startswith(RETRYABLE_SQLSTATES)
    # SQLite says "database is locked" or "disk I/O error" as OperationalError, no SQLSTATE.
    return isinstance(error, OperationalError)


def process_event(
    sessions: sessionmaker[Session], event: EventInfo, *, currency: str = "usd"
) -> ProcessedEvent:
    """Apply one verified event exactly once and record what happened.

    Raises WebhookProcessingFailed only for a database failure a retry can cure; any
    other failure is recorded on the event's row (outcome `error`, with the traceback,
    left unhandled so a replay takes it up again) and returned.
    """
    started = time.perf_counter()
    job_id = metadata_id(event.object.get("metadata"), "job_id")
    payment_id = metadata_id(event.object.get("metadata"), "payment_id")
    if event.api_version and event.api_version != API_VERSION:
        log.warning(
            "stripe.webhook.api_version_mismatch",
            extra={"event_id": event.id, "got": event.api_version, "pinned": API_VERSION},
        )

    handled = handled_events(sessions)
    if event.id in handled:
        milliseconds = _log(event, "duplicate", started, job_id)
        return ProcessedEvent(event.id, event.type, "duplicate", None, job_id, milliseconds)

    def apply(session: Session) -> Outcome:
        return _apply(session, event, job_id, payment_id, currency)

    try:
        group = _group_commit(sessions)
        if group is not None:
            result = group.run(apply)
        else:
            with session_scope(sessions) as session:
                result = apply(session)
    except SQLAlchemyError as error:
        if retryable(error):
            _record_failure(sessions, event, job_id, payment_id, "failed", error)
            _log(event, "failed", started, job_id)
            raise WebhookProcessingFailed(f"database error while handling {event.id}") from error
        result = _record_failure(sessions, event, job_id, payment_id, "error", error)
    except Exception as error:  # a bug: recorded for a person, never a bare 500
        result = _record_failure(sessions, event, job_id, payment_id, "error", error)
    else:
        handled.add(event.id)  # committed: handled now, or found handled before
    milliseconds = _log(event, result.outcome, started, job_id)
    return ProcessedEvent(event.id, event.type, result.outcome, result.detail, job_id, milliseconds)


def _apply(
    session: Session,
    event: EventInfo,
    job_id: int | None,
    payment_id: int | None,
    currency: str,
) -> Outcome:
    """Claim the event and, unless it was handled before, handle it and record how."""
    if not _claim(session, event, job_id, payment_id):
        return Outcome("duplicate")
    result = _dispatch(session, event, job_id, payment_id, currency)
    _HANDLED.execute(
        session.connection(),
        {
            "b_event": event.id,
            "b_handled_at": utcnow(),
            "b_outcome": result.outcome,
            "b_detail": result.detail,
            "b_job": result.job_id,
        },
    )
    return result


def _object_id(event: EventInfo) -> str | None:
    value = event.object.get("id")
    return value if isinstance(value, str) and len(value) <= 255 else None


def _event_row(
    event: EventInfo, job_id: int | None, payment_id: int | None, **extra: Any
) -> dict[str, Any]:
    """The `stripe_events` row for an event as it arrives."""
    payload = event.payload if event.payload and len(event.payload) <= PAYLOAD_LIMIT else None
    return {
        "event_id": event.id,
        "type": event.type,
        "created": event.created,
        "received_at": utcnow(),
        "object_id": _object_id(event),
        "job_id": job_id,
        "payment_id": payment_id,
        "payload": payload,
        **extra,
    }


_EVENTS = Base.metadata.tables["stripe_events"]
_JOBS = Base.metadata.tables["jobs"]
_PAYMENTS = Base.metadata.tables["payments"]
_STRIPE_CUSTOMERS = Base.metadata.tables["stripe_customers"]
_SERVICES = Base.metadata.tables["services"]
_MONEY_BACK = Base.metadata.tables["job_money_back"]
_RETRY = Precompiled(
    plain(
        update(_EVENTS)
        .where(_EVENTS.c.event_id == bindparam("b_event"), _EVENTS.c.handled_at.is_(None))
        .values(received_at=bindparam("b_received_at"))
    )
)
_HANDLED = Precompiled(
    plain(
        update(_EVENTS)
        .where(_EVENTS.c.event_id == bindparam("b_event"))
        .values(
            job_id=func.coalesce(bindparam("b_job", type_=Integer), _EVENTS.c.job_id),
            handled_at=bindparam("b_handled_at"),
            outcome=bindparam("b_outcome"),
            detail=bindparam("b_detail"),
            error=None,
        )
    )
)
# The job and its payment, locked in that order (PostgreSQL; SQLite's writer holds the
# database), read together with the customer's Stripe customer, the service's name and
# whether any refund or dispute of the job is recorded (which a credit must settle).
_TARGET = Precompiled(
    plain(
        select(
            _JOBS.c.status,
            _JOBS.c.customer_id,
            _JOBS.c.provider_id,
            _JOBS.c.service_id,
            _PAYMENTS.c.id,
            _PAYMENTS.c.status,
            _PAYMENTS.c.amount,
            _STRIPE_CUSTOMERS.c.stripe_customer_id,
            _SERVICES.c.name,
            _MONEY_BACK.c.job_id,
        )
        .select_from(
            _JOBS.join(_PAYMENTS, _PAYMENTS.c.job_id == _JOBS.c.id)
            .outerjoin(_STRIPE_CUSTOMERS, _STRIPE_CUSTOMERS.c.customer_id == _JOBS.c.customer_id)
            .outerjoin(_SERVICES, _SERVICES.c.id == _JOBS.c.service_id)
            .outerjoin(_MONEY_BACK, _MONEY_BACK.c.job_id == _JOBS.c.id)
        )
        .where(_JOBS.c.id == bindparam("b_job"))
        .with_for_update(of=[_JOBS, _PAYMENTS])
    )
)
_CLAIM = Precompiled(
    lambda insert: insert(_EVENTS).on_conflict_do_nothing().returning(_EVENTS.c.id),
    column_keys=(
        "event_id",
        "type",
        "created",
        "received_at",
        "object_id",
        "job_id",
        "payment_id",
        "payload",
    ),
)


def _claim(session: Session, event: EventInfo, job_id: int | None, payment_id: int | None) -> bool:
    """Take the event for this transaction; False when it was already handled.

    The unique key on the event id decides: a concurrent copy waits for the first to
    commit, then finds its row.
    """
    connection = session.connection()
    inserted = _CLAIM.execute(connection, _event_row(event, job_id, payment_id)).first()
    if inserted is not None:
        return True
    # Seen before: handle it again only if every earlier attempt failed.
    retried = _RETRY.execute(connection, {"b_event": event.id, "b_received_at": utcnow()})
    return retried.rowcount == 1


def _target(session: Session, job_id: int | None, payment_id: int | None) -> Target | None:
    """The job and payment named by metadata, if both exist and belong together."""
    if job_id is None:
        return None
    row = _TARGET.execute(session.connection(), {"b_job": job_id}).first()
    if row is None:
        return None
    facts: tuple[Any, ...] = tuple(row)
    status, customer_id, provider_id, service_id = facts[0:4]
    found_payment, payment_status, amount, stripe_customer, service_name = facts[4:9]
    money_back = facts[9] is not None
    if payment_id is not None and found_payment != payment_id:
        return None
    return Target(
        JobRow(job_id, status, customer_id, provider_id, service_id),
        PaymentRow(found_payment, payment_status, amount),
        stripe_customer,
        service_name if service_name is not None else "your service",
        money_back,
    )


def _names_unusable_ids(metadata: Any) -> bool:
    """Metadata that names a job or payment by something that cannot be one of our ids."""
    if not isinstance(metadata, dict):
        return False
    return any(
        key in metadata and metadata_id(metadata, key) is None for key in ("job_id", "payment_id")
    )


def _dispatch(
    session: Session,
    event: EventInfo,
    job_id: int | None,
    payment_id: int | None,
    currency: str,
) -> Outcome:
    handler = HANDLERS.get(event.type)
    if handler is None:
        if event.type in MONEY_BACK_EVENT_TYPES:
            return money_back_events.handle(session, event, currency)
        return Outcome("ignored")
    if event.object.get("object") != "invoice":
        return Outcome("rejected", f"the {event.type} event's object is not an invoice")
    try:
        invoice = InvoiceInfo.from_dict(event.object)
    except MalformedObject as error:
        return Outcome("malformed", str(error))
    target = _target(session, job_id, payment_id)
    if target is None or _names_unusable_ids(event.object.get("metadata")):
        return Outcome(
            "orphan",
            f"metadata job_id={job_id} payment_id={payment_id} names no job and payment of ours",
        )
    # The checks of core.billing.payments.refusal, on the customer record read above.
    refused = mismatch(
        invoice, job_id=target.job.id, customer=target.stripe_customer, currency=currency
    )
    if refused is not None:
        return Outcome("rejected", refused)
    # A paid invoice for another amount than the payment's is not the job's invoice (it
    # would become its current one); the handler records the mismatch for a person.
    if not paid_for_another_amount(invoice, target.payment.amount):
        # Stripe e-mails the invoice when `invoice.sent` happens: our record of the send.
        sent_at = event.created if event.type == "invoice.sent" else None
        remember_invoice(session, invoice, sent_at=sent_at, job_locked=True)
    return handler(session, event, invoice, target)


GROUP_LIMIT = 32  # events in one SQLite commit at most


@dataclass(eq=False)
class _Waiting:
    """One unit of work waiting for a group commit: woken with its result, or (not done
    yet) to lead."""

    work: Callable[[Session], Outcome]
    woken: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    outcome: Outcome | None = None
    error: BaseException | None = None

    def finish(self, outcome: Outcome | None, error: BaseException | None) -> None:
        self.outcome, self.error, self.done = outcome, error, True
        self.woken.set()


class _GroupCommit:
    """Units of work on one SQLite database applied in one transaction and committed at once.

    SQLite has one writer, and a durable commit waits for the disk (an fsync of the WAL):
    one commit per event caps intake at the disk's sync rate, and the writers waiting for
    the lock poll it with growing sleeps. Here the threads of one process queue in
    memory instead; the first becomes the leader, applies the work of everyone waiting in
    arrival order in one `BEGIN IMMEDIATE` transaction, commits, and hands each its own
    result; the others wait. A leader whose own work is done hands the lead to the next
    waiting thread, so nobody leads for long.

    Nothing is answered before the commit that holds it: an exception in one unit of work
    rolls the transaction back, goes to that unit, and the others are applied again in the
    next transaction; a failure to begin or commit goes to every unit of that transaction.
    Other processes, and other writers in this one, still meet at SQLite's lock.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()
        self._leading = False

    def run(self, work: Callable[[Session], Outcome]) -> Outcome:
        mine = _Waiting(work)
        with self._lock:
            self._queue.append(mine)
            follow, self._leading = self._leading, True
        if follow:
            mine.woken.wait()
        if not mine.done:  # leading: first in, or handed the lead
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _lead(self, mine: _Waiting) -> None:
        try:
            while True:
                with self._lock:
                    count = min(GROUP_LIMIT, len(self._queue))
                    batch = [self._queue.popleft() for _ in range(count)]
                again = self._commit(batch)
                with self._lock:
                    self._queue.extendleft(reversed(again))
                    if not self._queue:
                        self._leading = False
                        return
                    if mine.done:
                        self._queue[0].woken.set()  # the next in line leads
                        return
        except BaseException as error:  # never leave the others waiting for a leader
            with self._lock:
                waiting = list(self._queue)
                self._queue.clear()
                self._leading = False
            for other in waiting:
                other.finish(None, error)
            if not mine.done:
                mine.finish(None, error)
            raise

    def _commit(self, batch: list[_Waiting]) -> list[_Waiting]:
        """Apply `batch` in one transaction; returns the units to apply again."""
        results: list[Outcome] = []
        try:
            with session_scope(self._sessions) as session:
                session.connection()  # BEGIN IMMEDIATE: a lock wait is everyone's
                for index, unit in enumerate(batch):
                    try:
                        results.append(unit.work(session))
                    except BaseException as error:
                        session.rollback()
                        unit.finish(None, error)
                        return batch[:index] + batch[index + 1 :]
        except BaseException as error:  # BEGIN or COMMIT failed: nothing of it holds
            for unit in batch:
                if not unit.done:
                    unit.finish(None, error)
            return []
        for unit, outcome in zip(batch, results, strict=True):
            unit.finish(outcome, None)
        return []


_GROUPS: weakref.WeakKeyDictionary[sessionmaker[Session], _GroupCommit] = (
    weakref.WeakKeyDictionary()
)
_GROUPS_LOCK = threading.Lock()


def _group_commit(sessions: sessionmaker[Session]) -> _GroupCommit | None:
    """The group commit for these sessions' SQLite database; None on PostgreSQL, which
    takes concurrent transactions (and shares one WAL flush among their commits) itself."""
    bind = sessions.kw.get("bind")
    if getattr(getattr(bind, "dialect", None), "name", None) != "sqlite":
        return None
    with _GROUPS_LOCK:
        group = _GROUPS.get(sessions)
        if group is None:
            group = _GROUPS[sessions] = _GroupCommit(sessions)
        return group


def _record_failure(
    sessions: sessionmaker[Session],
    event: EventInfo,
    job_id: int | None,
    payment_id: int | None,
    outcome: str,
    error: BaseException,
) -> Outcome:
    """Keep the failure on the event row, unhandled, so a person can see it and a retry or
    replay takes it up again (best effort: the database may be the thing that failed)."""
    if outcome == "error":
        log.exception("stripe.webhook.error", extra={"event_id": event.id, "job_id": job_id})
    trace = "".join(traceback.format_exception(error))
    message = f"{type(error).__name__}: {error}\n{trace}"[:ERROR_LIMIT]
    detail = f"{type(error).__name__} while handling the event; see the error"
    try:
        with session_scope(sessions) as session:
            inserted = insert_ignoring_conflict(
                session,
                StripeEvent,
                _event_row(event, job_id, payment_id, outcome=outcome, error=message),
            )
            if not inserted:
                session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.event_id == event.id, StripeEvent.handled_at.is_(None))
                    .values(outcome=outcome, error=message, detail=detail)
                )
    except SQLAlchemyError:
        log.exception("stripe.webhook.failure_not_recorded", extra={"event_id": event.id})
    return Outcome(outcome, detail)


def _log(event: EventInfo, outcome: str, started: float, job_id: int | None = None) -> float:
    seconds = time.perf_counter() - started
    record_webhook(event.type, outcome, seconds)
    milliseconds = round(seconds * 1000, 1)
    # A duplicate changes nothing, and Stripe can send many (every retry after a timeout):
    # one line each would cost as much as answering it, so they are logged at DEBUG.
    level = logging.DEBUG if outcome == "duplicate" else logging.INFO
    if not log.isEnabledFor(level):
        return milliseconds
    log.log(
        level,
        "stripe.webhook.processed",
        extra={
            "event_id": event.id,
            "event_type": event.type,
            # Known to the caller that parsed it; else read here, only for a line written.
            "job_id": job_id
            if job_id is not None
            else metadata_id(event.object.get("metadata"), "job_id"),
            "outcome": outcome,
            "duration_ms": milliseconds,
        },
    )
    return milliseconds
