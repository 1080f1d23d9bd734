"""The one door to Stripe: every call the system makes, and the only module importing `stripe`.

It pins the API version the SDK ships with, retries network faults (the SDK, twice, with
its own idempotency keys) and rate limits (here, with backoff and jitter), and turns
Stripe's exceptions into the application's errors, so callers never catch `stripe.*`.
Objects come back as small frozen dataclasses, not SDK objects.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import stripe

from core.billing.event_schema import (
    NotAStripeEvent,
)
from core.billing.invoice_content import InvoiceContent
from core.billing.stripe_money_back import MoneyBackCalls
from core.billing.stripe_objects import EventInfo, InvoiceInfo, _event_info
from core.config import Settings
from core.errors import (
    CardDeclined,
    InvalidInput,
    InvalidStripeRequest,
    PaymentProviderError,
    RateLimited,
    StripeUnavailable,
)
from core.observability.metrics import record_stripe_call

log = logging.getLogger("core.stripe")

T = TypeVar("T")

API_VERSION: str = stripe.api_version
WEBHOOK_TOLERANCE = 300  # seconds, as Stripe's libraries default
EVENT_TYPES_PER_LIST = 20  # Stripe's limit on `types` in GET /v1/events
TEST_PAYMENT_METHODS = {
    "visa": "pm_card_visa",
    "declined": "pm_card_visa_chargeDeclined",
    "dispute": "pm_card_createDispute",  # pays, then the cardholder disputes it
}


def _status_of(error: stripe.StripeError) -> str:
    """A Stripe error as the metrics' status label: its HTTP status, or "unreachable"."""
    return str(error.http_status) if error.http_status else "unreachable"


def _mapped(step: str, exc: stripe.StripeError) -> Exception:
    """Stripe's error as ours, in words a person can act on."""
    if isinstance(exc, stripe.CardError):
        return CardDeclined(exc.user_message or "The card was declined.")
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        return StripeUnavailable(
            f"Stripe could not be reached or failed ({step}): {exc.user_message or exc}"
        )
    if isinstance(exc, stripe.AuthenticationError):
        return InvalidStripeRequest("Stripe refused the API key; check STRIPE_SECRET_KEY.")
    if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
        return MissingInStripe(f"Stripe refused the request ({step}): {exc.user_message or exc}")
    return InvalidStripeRequest(f"Stripe refused the request ({step}): {exc.user_message or exc}")


def _one_off(scope: str) -> str:
    """A key for one logical request with no id of ours to build it from: made once, before
    the retries, so every retry of that request carries the same key."""
    return f"{scope}:{uuid.uuid4().hex}"


def _replayed(answer: Any) -> bool:
    """Stripe answered from its idempotency store (an earlier attempt made the object)."""
    response = getattr(answer, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("Idempotent-Replayed", "")).lower() == "true"


class MissingInStripe(InvalidStripeRequest):
    """The object is not (or no longer) in Stripe, e.g. a deleted draft."""


def _reissue(issue: int, replaces: str | None = None) -> str:
    suffix = f":reissue-{issue}" if issue else ""
    return suffix + (f":after-{replaces}" if replaces else "")


class StripeGateway(MoneyBackCalls):
    """Stripe calls used by invoicing, webhooks and the tools around them (those of money
    moving back are in core.billing.stripe_money_back)."""

    client: stripe.StripeClient

    def __init__(
        self, settings: Settings, *, rate_limit_attempts: int = 3, rate_limit_backoff: float = 0.5
    ) -> None:
        base = settings.stripe_base
        self.client = stripe.StripeClient(
            settings.stripe_key,
            base_addresses={"api": base} if base else None,
            stripe_version=API_VERSION,
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=(5, settings.stripe_timeout_seconds)),
        )
        self.currency = settings.currency
        self.rate_limit_attempts = rate_limit_attempts
        self.rate_limit_backoff = rate_limit_backoff

    def _call(self, step: str, operation: Callable[[], T]) -> T:
        """Run one Stripe call: retry rate limits with backoff and jitter; map errors; count
        each attempt by its result for the metrics."""
        for attempt in range(1, self.rate_limit_attempts + 1):
            try:
                result = operation()
            except stripe.StripeError as exc:
                record_stripe_call(step, _status_of(exc))
                if isinstance(exc, stripe.RateLimitError):
                    if attempt == self.rate_limit_attempts:
                        raise RateLimited(f"Stripe is rate limiting requests ({step}).") from exc
                    delay = self.rate_limit_backoff * 2 ** (attempt - 1)
                    time.sleep(delay + random.uniform(0, delay))
                    log.warning("stripe.rate_limited", extra={"step": step, "attempt": attempt})
                    continue
                raise _mapped(step, exc) from exc
            record_stripe_call(step, "ok")
            return result
        raise AssertionError("unreachable")

    # Customers

    def find_customer_id(self, user_id: int) -> str | None:
        result = self._call(
            "customer_search",
            lambda: self.client.v1.customers.search(
                params={"query": f"metadata['user_id']:'{user_id}'", "limit": 10}
            ),
        )
        customers = sorted(result.data, key=lambda c: c.created)
        return customers[0].id if customers else None

    def create_customer(self, *, user_id: int, name: str, email: str, phone: str | None) -> str:
        params: dict[str, Any] = {
            "name": name,
            "email": email,
            "metadata": {"user_id": str(user_id)},
        }
        if phone:
            params["phone"] = phone
        customer = self._call(
            "customer_create",
            # Search lags writes by up to a minute; the key makes a retry in that window
            # return the customer already made instead of a second one.
            lambda: self.client.v1.customers.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"customer:{user_id}"},
            ),
        )
        log.info("stripe.customer.created", extra={"user_id": user_id, "customer": customer.id})
        return customer.id

    # Invoices

    def invoices_for_job(self, job_id: int) -> list[InvoiceInfo]:
        """Every invoice whose metadata names the job, newest first (as Stripe lists them)."""
        found: list[InvoiceInfo] = []
        page: str | None = None
        while True:
            params: dict[str, Any] = {"query": f"metadata['job_id']:'{job_id}'", "limit": 100}
            if page:
                params["page"] = page
            result = self._call(
                "invoice_search",
                lambda params=params: self.client.v1.invoices.search(params=params),  # type: ignore[misc]
            )
            found.extend(InvoiceInfo.from_stripe(invoice) for invoice in result.data)
            page = result.next_page if result.has_more else None
            if not page:
                return found

    def create_invoice(
        self,
        *,
        customer_id: str,
        job_id: int,
        payment_id: int,
        days_until_due: int,
        issue: int = 0,
        replaces: str | None = None,
        content: InvoiceContent | None = None,
    ) -> tuple[InvoiceInfo, bool]:
        """A draft `send_invoice` invoice for the payment, and whether Stripe replayed it.

        `issue` counts the payment's earlier invoices that were voided or written off, and
        `replaces` names a deleted draft this one stands in for: the key stays the same
        across retries of one invoice, and changes when a new one is due. A replayed answer
        is the invoice as it was first made, not as it is now. `content` is what the customer
        reads on it (memo, custom fields, footer), already within Stripe's limits.
        """
        params: dict[str, Any] = {
            "customer": customer_id,
            "collection_method": "send_invoice",
            "days_until_due": days_until_due,
            "auto_advance": False,
            "currency": self.currency,
            "metadata": {"job_id": str(job_id), "payment_id": str(payment_id)},
        }
        if content is not None:
            params["description"] = content.memo
            params["footer"] = content.footer
            params["custom_fields"] = [
                {"name": name, "value": value} for name, value in content.custom_fields
            ]
        invoice = self._call(
            "invoice_create",
            lambda: self.client.v1.invoices.create(
                params=params,  # type: ignore[arg-type]
                # One invoice per payment (and issue): a retry after a lost answer gets the
                # same invoice.
                options={"idempotency_key": f"invoice:{payment_id}{_reissue(issue, replaces)}"},
            ),
        )
        log.info("stripe.invoice.created", extra={"job_id": job_id, "invoice": invoice.id})
        return InvoiceInfo.from_stripe(invoice), _replayed(invoice)

    def add_invoice_item(
        self,
        *,
        customer_id: str,
        invoice_id: str,
        amount: int,
        description: str,
        job_id: int,
        payment_id: int,
    ) -> None:
        self._call(
            "item_create",
            lambda: self.client.v1.invoice_items.create(
                params={
                    "customer": customer_id,
                    # On the invoice itself: Stripe's default pending_invoice_items_behavior
                    # is "exclude", so an unattached item would leave a $0 invoice.
                    "invoice": invoice_id,
                    "amount": amount,
                    "currency": self.currency,
                    "description": description,
                    "metadata": {"job_id": str(job_id), "payment_id": str(payment_id)},
                },
                # Keyed by invoice: one line per invoice, and a payment may see several
                # invoices over its life (void and re-issue).
                options={"idempotency_key": f"invoiceitem:{invoice_id}"},
            ),
        )

    def finalize_invoice(self, invoice_id: str) -> InvoiceInfo:
        invoice = self._call(
            "finalize",
            lambda: self.client.v1.invoices.finalize_invoice(
                invoice_id,
                params={"auto_advance": False},
                # One finalization per invoice: a retry after a lost answer (or a 429 that
                # followed the change) replays it instead of failing "already finalized".
                options={"idempotency_key": f"finalize:{invoice_id}"},
            ),
        )
        return InvoiceInfo.from_stripe(invoice)

    def send_invoice(self, invoice_id: str, *, idempotency_key: str | None = None) -> InvoiceInfo:
        """Email the invoice. A key makes a retried send a no-op; a resend passes none and
        gets one of its own, so each resend e-mails once however often it is retried."""
        options: dict[str, Any] = {"idempotency_key": idempotency_key or _one_off("resend")}
        invoice = self._call(
            "send",
            lambda: self.client.v1.invoices.send_invoice(invoice_id, options=options),  # type: ignore[arg-type]
        )
        log.info("stripe.invoice.sent", extra={"invoice": invoice_id})
        return InvoiceInfo.from_stripe(invoice)

    def retrieve_invoice(self, invoice_id: str) -> InvoiceInfo:
        return InvoiceInfo.from_stripe(
            self._call("invoice_retrieve", lambda: self.client.v1.invoices.retrieve(invoice_id))
        )

    def pay_test_invoice(self, invoice_id: str, *, card: str) -> InvoiceInfo:
        """Pay with one of Stripe's test payment methods (sandbox or test mode only)."""
        if card not in TEST_PAYMENT_METHODS:
            raise InvalidInput(f"card must be one of {', '.join(TEST_PAYMENT_METHODS)}")
        key = _one_off(f"pay-test:{invoice_id}")
        invoice = self._call(
            "pay",
            lambda: self.client.v1.invoices.pay(
                invoice_id,
                params={"payment_method": TEST_PAYMENT_METHODS[card]},
                options={"idempotency_key": key},
            ),
        )
        return InvoiceInfo.from_stripe(invoice)

    def list_invoices(self, *, created_from: datetime | None = None) -> Iterator[InvoiceInfo]:
        """Every invoice (created since `created_from`), read 100 a page, newest first."""
        params: dict[str, Any] = {"limit": 100}
        if created_from is not None:
            params["created"] = {"gte": int(created_from.timestamp())}
        page = self._call(
            "invoice_list",
            lambda: self.client.v1.invoices.list(params=params),  # type: ignore[arg-type]
        )
        while True:
            yield from (InvoiceInfo.from_stripe(invoice) for invoice in page.data)
            if not page.has_more or not page.data:
                return
            after = {**params, "starting_after": page.data[-1].id}
            page = self._call(
                "invoice_list",
                lambda after=after: self.client.v1.invoices.list(params=after),  # type: ignore[misc]
            )

    def void_invoice(self, invoice_id: str) -> InvoiceInfo:
        invoice = self._call(
            "void",
            lambda: self.client.v1.invoices.void_invoice(
                invoice_id, options={"idempotency_key": f"void:{invoice_id}"}
            ),
        )
        log.info("stripe.invoice.voided", extra={"invoice": invoice_id})
        return InvoiceInfo.from_stripe(invoice)

    def delete_draft(self, invoice_id: str) -> None:
        self._call("delete_draft", lambda: self.client.v1.invoices.delete(invoice_id))
        log.info("stripe.invoice.deleted", extra={"invoice": invoice_id})

    def pay_out_of_band(self, invoice_id: str) -> InvoiceInfo:
        """Mark an invoice paid outside Stripe (cash, cheque), so both sides agree."""
        invoice = self._call(
            "pay_out_of_band",
            lambda: self.client.v1.invoices.pay(
                invoice_id,
                params={"paid_out_of_band": True},
                options={"idempotency_key": f"paid-out-of-band:{invoice_id}"},
            ),
        )
        return InvoiceInfo.from_stripe(invoice)

    def events_since(self, created_from: datetime, types: list[str]) -> list[EventInfo]:
        """Stripe's events of these types since a moment, oldest first (for replay).

        Stripe lists newest first and takes at most 20 `types` a list, so more are asked
        20 at a time (no types: every event). Events of one second keep the order Stripe
        listed them in (an `invoice_payment.paid` before the dispute that follows it), not
        the order of their random ids."""
        found: dict[str, EventInfo] = {}
        for start in range(0, len(types), EVENT_TYPES_PER_LIST) if types else (0,):
            chunk = types[start : start + EVENT_TYPES_PER_LIST]
            for event in reversed(self._events_of(created_from, chunk)):
                found.setdefault(event.id, event)
        return sorted(found.values(), key=lambda event: event.created)  # stable: Stripe's order

    def _events_of(self, created_from: datetime, types: list[str]) -> list[EventInfo]:
        """One listing, newest first."""
        params: dict[str, Any] = {"limit": 100, "created": {"gte": int(created_from.timestamp())}}
        if types:
            params["types"] = types
        listed: list[EventInfo] = []
        page = self._call(
            "event_list",
            lambda: self.client.v1.events.list(params=params),  # type: ignore[arg-type]
        )
        while True:
            for event in page.data:
                body = event.to_dict()
                listed.append(_event_info(body, json.dumps(body)))
            if not page.has_more or not page.data:
                return listed
            after = {**params, "starting_after": page.data[-1].id}
            page = self._call(
                "event_list",
                lambda after=after: self.client.v1.events.list(params=after),  # type: ignore[misc]
            )

    # Webhooks

    def replace_webhook_endpoint(self, url: str, events: list[str]) -> str:
        """Register `url` for `events`, replacing earlier endpoints for the same URL.

        Returns the signing secret, which Stripe shows only when an endpoint is created.
        """
        for endpoint in self._endpoints():
            if endpoint.url == url:
                self._call(
                    "webhook_endpoint_delete",
                    lambda endpoint_id=endpoint.id: self.client.v1.webhook_endpoints.delete(  # type: ignore[misc]
                        endpoint_id
                    ),
                )
        key = _one_off("webhook-endpoint")
        created = self._call(
            "webhook_endpoint_create",
            lambda: self.client.v1.webhook_endpoints.create(
                params={"url": url, "enabled_events": events},  # type: ignore[typeddict-item]
                options={"idempotency_key": key},
            ),
        )
        return str(created.secret)

    def _endpoints(self) -> Iterator[Any]:
        listing = self._call(
            "webhook_endpoint_list",
            lambda: self.client.v1.webhook_endpoints.list(params={"limit": 100}),
        )
        yield from listing.auto_paging_iter()

    @staticmethod
    def verify_event(
        payload: bytes, signature: str | None, secret: str | Sequence[str]
    ) -> EventInfo:
        """Check the Stripe-Signature header (300 s tolerance) and parse the event's envelope.

        `secret` may be several signing secrets (the new one and the one it replaces, while
        an endpoint's secret is rotated): a signature by any of them is accepted. Raises
        ValueError (NotAStripeEvent for a signed body that names no event) for a bad
        signature, a stale timestamp, or a body that is not a Stripe event.
        """
        secrets = [secret] if isinstance(secret, str) else list(secret)
        secrets = [s for s in secrets if s]
        if not secrets:
            raise ValueError("no webhook signing secret is configured")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the body is not UTF-8 text") from None
        refusals: list[stripe.SignatureVerificationError] = []
        for candidate in secrets:
            try:
                stripe.WebhookSignature.verify_header(text, signature, candidate, WEBHOOK_TOLERANCE)
                break
            except stripe.SignatureVerificationError as exc:
                refusals.append(exc)
        else:  # no secret verified it: the current secret's reason
            first = refusals[0]
            raise ValueError(f"invalid signature: {first.user_message or first}") from first
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past what Python parses
            raise NotAStripeEvent("the body is signed but is not readable JSON") from None
        return _event_info(body, text)


__all__ = ["API_VERSION", "EventInfo", "InvoiceInfo", "PaymentProviderError", "StripeGateway"]
