"""The sandbox's state and settings in one place: store, clock, events and their delivery."""

from __future__ import annotations

import collections
import contextvars
import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import stripe

from stripe_sandbox import objects
from stripe_sandbox.faults import FaultTable
from stripe_sandbox.mail import Mailer
from stripe_sandbox.store import Store, StripeObject
from stripe_sandbox.webhooks import Chaos, WebhookDispatcher

# Events carry the API version the official SDK pins, as Stripe stamps its own.
API_VERSION: str = stripe.api_version

# Every event type the sandbox emits, and the two a refund sends when Stripe's bank moves it
# on later (`refund.updated`, `refund.failed`: a sandbox refund succeeds at once, so never);
# webhook endpoints may enable only these (or "*").
EVENT_TYPES = (
    "charge.dispute.closed",
    "charge.dispute.created",
    "charge.dispute.funds_reinstated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.updated",
    "charge.refunded",
    "charge.succeeded",
    "credit_note.created",
    "credit_note.voided",
    "customer.created",
    "customer.updated",
    "invoice.created",
    "invoice.deleted",
    "invoice.finalized",
    "invoice.marked_uncollectible",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "invoice.sent",
    "invoice.updated",
    "invoice.voided",
    "invoice_payment.paid",
    "invoiceitem.created",
    "payment_intent.created",
    "payment_intent.succeeded",
    "refund.created",
    "refund.failed",
    "refund.updated",
)


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None
    idempotency_key: str | None


# Which API request caused the change; a payment on the hosted page has none, as in Stripe.
current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "current_request", default=None
)


@dataclass
class SandboxConfig:
    public_url: str = "http://127.0.0.1:12111"
    account_name: str = "Home Services Marketplace"
    # Stripe's search index lags writes by up to a minute; 0 makes new objects findable at once.
    search_lag: float = 0.0
    retry_schedule: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    webhook_timeout: float = 10.0
    chaos: Chaos = field(default_factory=Chaos)
    # Where the clock's offset from real time is published, so that the processes of a
    # demo run can keep the same time as the sandbox (`{"offset": seconds}`).
    clock_file: Path | None = None
    # Where the e-mails Stripe sends in live mode go (`smtp://host:port`); None sends none,
    # as in Stripe's test mode.
    smtp_url: str | None = None


class Sandbox:
    """Holds everything one sandbox server knows; handlers receive it."""

    def __init__(self, config: SandboxConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.faults = FaultTable()
        self.request_counts: collections.Counter[str] = collections.Counter()
        # Idempotency keys of requests being executed now (not saved: a restart ends them).
        self.keys_in_flight: set[str] = set()
        self.dispatcher = WebhookDispatcher(
            store,
            schedule=config.retry_schedule,
            timeout=config.webhook_timeout,
            chaos=config.chaos,
        )
        self.mailer = Mailer(config.smtp_url) if config.smtp_url else None

    def mail_customer(
        self, compose: Callable[[str, StripeObject, int], EmailMessage], invoice: StripeObject
    ) -> None:
        """E-mail the invoice's customer, when the sandbox sends e-mail and they have an
        address; composed from a copy now, sent later by the mailer's thread."""
        if self.mailer is None or not invoice.get("customer_email"):
            return
        self.mailer.send(compose(self.config.account_name, copy.deepcopy(invoice), self.now()))

    def now(self) -> int:
        held = self.store.clock_held_at
        return held if held is not None else int(time.time()) + self.store.clock_offset

    def set_clock(self, at: int | None = None, *, seconds: int = 0, hold: bool = False) -> None:
        """Set the clock to Unix time `at`, or move it on `seconds` from where it stands (a
        held clock from its held time); with `hold` it stands still there until the next
        move. Real time is read once, so the time set is exactly the one asked for."""
        with self.store.lock:
            real = int(time.time())
            if at is None:  # where the clock stands
                held = self.store.clock_held_at
                at = held if held is not None else real + self.store.clock_offset
            target = at + seconds
            self.store.clock_offset = target - real
            self.store.clock_held_at = target if hold else None
            self.store.touch()
            self.publish_clock()

    def publish_clock(self) -> None:
        """Write the clock's offset to the clock file, whole or not at all."""
        target = self.config.clock_file
        if target is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({"offset": self.store.clock_offset}))
        os.replace(temporary, target)

    def reset(self) -> None:
        self.dispatcher.clear()
        self.dispatcher.set_chaos(self.config.chaos)
        self.store.reset()
        self.faults.clear()
        self.request_counts.clear()
        self.publish_clock()

    def emit(
        self,
        type_: str,
        obj: StripeObject,
        previous_attributes: dict[str, Any] | None = None,
    ) -> StripeObject:
        """Record an event with the object as it is now, and queue it for every listener."""
        assert type_ in EVENT_TYPES, type_
        listeners = [
            endpoint
            for endpoint in self.store.newest_first("webhook_endpoint")
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"] or type_ in endpoint["enabled_events"])
        ]
        context = current_request.get() or RequestContext(None, None)
        event = objects.event(
            type_,
            copy.deepcopy(objects.public(obj)),
            now=self.now(),
            api_version=API_VERSION,
            request_id=context.request_id,
            idempotency_key=context.idempotency_key,
            previous_attributes=previous_attributes,
            pending_webhooks=len(listeners),
        )
        self.store.add("event", event)
        if listeners:
            self.dispatcher.enqueue(event, listeners)
        return event
