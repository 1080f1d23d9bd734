"""Stripe webhook intake: every delivery verified, validated, recorded and answered, and
each event applied exactly once.

`receive` is the one place that decides the answer:

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
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from core.billing.event_schema import MalformedObject, NotAStripeEvent, metadata_id
from core.billing.invoice_copies import remember_invoice
from core.billing.payments import Outcome, refusal
from core.billing.stripe_gateway import API_VERSION, StripeGateway
from core.billing.stripe_objects import EventInfo, InvoiceInfo
from core.billing.webhook_handlers import (
    HANDLERS,
    INVOICE_EVENT_TYPES,
    Target,
    subscribed_event_types,
)
from core.db.models import Job, Payment, StripeEvent, utcnow
from core.db.session import insert_ignoring_conflict, session_scope

__all__ = [
    "INVOICE_EVENT_TYPES",
    "Delivery",
    "Outcome",
    "ProcessedEvent",
    "WebhookProcessingFailed",
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
    secret: str,
    currency: str,
) -> Delivery:
    """Verify, record and apply one delivery, and say how to answer it."""
    try:
        event = StripeGateway.verify_event(payload, signature, secret)
    except NotAStripeEvent as error:
        log.warning("stripe.webhook.not_an_event reason=%s", error)
        return Delivery(400, _refused("invalid_webhook", str(error)))
    except ValueError as error:
        return Delivery(400, _refused("invalid_webhook", str(error)))
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
            "stripe.webhook.api_version_mismatch event=%s got=%s pinned=%s",
            event.id,
            event.api_version,
            API_VERSION,
        )
    try:
        with session_scope(sessions) as session:
            if not _claim(session, event, job_id, payment_id):
                result = Outcome("duplicate")
            else:
                result = _dispatch(session, event, job_id, payment_id, currency)
                session.execute(
                    update(StripeEvent)
                    .where(StripeEvent.event_id == event.id)
                    .values(
                        handled_at=utcnow(),
                        outcome=result.outcome,
                        detail=result.detail,
                        error=None,
                    )
                )
    except SQLAlchemyError as error:
        if retryable(error):
            _record_failure(sessions, event, job_id, payment_id, "failed", error)
            _log(event, "failed", started)
            raise WebhookProcessingFailed(f"database error while handling {event.id}") from error
        result = _record_failure(sessions, event, job_id, payment_id, "error", error)
    except Exception as error:  # a bug: recorded for a person, never a bare 500
        result = _record_failure(sessions, event, job_id, payment_id, "error", error)
    milliseconds = _log(event, result.outcome, started)
    return ProcessedEvent(event.id, event.type, result.outcome, result.detail, job_id, milliseconds)


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


def _claim(session: Session, event: EventInfo, job_id: int | None, payment_id: int | None) -> bool:
    """Take the event for this transaction; False when it was already handled."""
    inserted = insert_ignoring_conflict(session, StripeEvent, _event_row(event, job_id, payment_id))
    if inserted:
        return True
    # Seen before: handle it again only if every earlier attempt failed.
    retried = session.execute(
        update(StripeEvent)
        .where(StripeEvent.event_id == event.id, StripeEvent.handled_at.is_(None))
        .values(received_at=utcnow())
    )
    return getattr(retried, "rowcount", 0) == 1


def _target(session: Session, job_id: int | None, payment_id: int | None) -> Target | None:
    """The job and payment named by metadata, if both exist and belong together."""
    if job_id is None:
        return None
    job = session.get(Job, job_id)
    payment = session.scalar(select(Payment).where(Payment.job_id == job_id))
    if job is None or payment is None:
        return None
    if payment_id is not None and payment.id != payment_id:
        return None
    return Target(job, payment)


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
    refused = refusal(session, invoice=invoice, job=target.job, currency=currency)
    if refused is not None:
        return Outcome("rejected", refused)
    # A paid invoice for another amount than the payment's is not the job's invoice (it
    # would become its current one); the handler records the mismatch for a person.
    if not (invoice.status == "paid" and invoice.amount_paid != target.payment.amount):
        # Stripe e-mails the invoice when `invoice.sent` happens: our record of the send.
        sent_at = event.created if event.type == "invoice.sent" else None
        remember_invoice(session, invoice, sent_at=sent_at)
    return handler(session, event, invoice, target)


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
        log.exception("stripe.webhook.error event=%s", event.id)
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
        log.exception("stripe.webhook.failure_not_recorded event=%s", event.id)
    return Outcome(outcome, detail)


def _log(event: EventInfo, outcome: str, started: float) -> float:
    milliseconds = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        json.dumps(
            {
                "event": "stripe.webhook.processed",
                "id": event.id,
                "type": event.type,
                "outcome": outcome,
                "ms": milliseconds,
            }
        )
    )
    return milliseconds
