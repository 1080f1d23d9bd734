"""The Stripe calls of money moving back: credit notes that refund a paid invoice, the
payments behind invoices, refunds and disputes listed for reconciliation.

A part of `StripeGateway` (core.billing.stripe_gateway, which alone imports `stripe`):
the calls go through its client and its error mapping (`_call`), and answers come back as
the typed objects of core.billing.money_back_schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from core.billing.money_back_schema import (
    CreditNoteObject,
    DisputeObject,
    InvoicePaymentObject,
    RefundObject,
    parse_money_object,
)

T = TypeVar("T")

# Stripe's reasons for a credit note; "other" is ours for anything else (Stripe takes none).
CREDIT_NOTE_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")


class MoneyBackCalls:
    """Mixed into StripeGateway, which provides `client` and `_call`."""

    client: Any

    def _call(self, step: str, operation: Callable[[], T]) -> T:  # pragma: no cover
        raise NotImplementedError

    def _pages(
        self, step: str, lister: Callable[[dict[str, Any]], Any], params: dict[str, Any]
    ) -> Iterator[Any]:
        page = self._call(step, lambda: lister(params))
        while True:
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = {**params, "starting_after": page.data[-1].id}
            page = self._call(step, lambda after=after: lister(after))  # type: ignore[misc]

    def _credit_note_params(
        self,
        invoice_id: str,
        *,
        refund_amount: int,
        reason: str | None,
        memo: str | None,
        metadata: dict[str, str] | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "invoice": invoice_id,
            "amount": refund_amount,
            "refund_amount": refund_amount,
        }
        if reason in CREDIT_NOTE_REASONS:
            params["reason"] = reason
        if memo:
            params["memo"] = memo
        if metadata:
            params["metadata"] = metadata
        return params

    def preview_refund_credit_note(self, invoice_id: str, *, refund_amount: int) -> dict[str, Any]:
        """What a credit note refunding `refund_amount` of the invoice would be (nothing is
        made); raises InvalidStripeRequest with Stripe's reason when it would be refused."""
        params = self._credit_note_params(
            invoice_id, refund_amount=refund_amount, reason=None, memo=None, metadata=None
        )
        note = self._call(
            "credit_note_preview",
            lambda: self.client.v1.credit_notes.preview(params=params),
        )
        return dict(note.to_dict())

    def refund_by_credit_note(
        self,
        invoice_id: str,
        *,
        refund_amount: int,
        idempotency_key: str,
        reason: str | None = None,
        memo: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CreditNoteObject:
        """Stripe's way to give back money on a paid invoice: a credit note whose whole
        amount is refunded to the card (`refund_amount`), which makes the Refund."""
        params = self._credit_note_params(
            invoice_id, refund_amount=refund_amount, reason=reason, memo=memo, metadata=metadata
        )
        note = self._call(
            "credit_note_create",
            lambda: self.client.v1.credit_notes.create(
                params=params,
                options={"idempotency_key": idempotency_key},
            ),
        )
        parsed: CreditNoteObject = parse_money_object(note.to_dict(), "credit_note")
        return parsed

    def invoice_payments(self, invoice_id: str) -> list[InvoicePaymentObject]:
        """The payments made on an invoice (its PaymentIntents), newest first."""
        return [
            parse_money_object(item.to_dict(), "invoice_payment")
            for item in self._pages(
                "invoice_payment_list",
                lambda p: self.client.v1.invoice_payments.list(params=p),
                {"invoice": invoice_id, "limit": 100},
            )
        ]

    def invoice_payment_of(self, payment_intent_id: str) -> InvoicePaymentObject | None:
        """The InvoicePayment a PaymentIntent made, if it paid an invoice."""
        params = {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
            "limit": 1,
        }
        page = self._call(
            "invoice_payment_list",
            lambda: self.client.v1.invoice_payments.list(params=params),
        )
        if not page.data:
            return None
        found: InvoicePaymentObject = parse_money_object(page.data[0].to_dict(), "invoice_payment")
        return found

    def refunds_since(self, created_from: datetime) -> Iterator[RefundObject]:
        """Every refund made since a moment, newest first (for reconciliation)."""
        for item in self._pages(
            "refund_list",
            lambda p: self.client.v1.refunds.list(params=p),
            {"limit": 100, "created": {"gte": int(created_from.timestamp())}},
        ):
            yield parse_money_object(item.to_dict(), "refund")

    def disputes_since(self, created_from: datetime) -> Iterator[DisputeObject]:
        """Every dispute opened since a moment, newest first (for reconciliation)."""
        for item in self._pages(
            "dispute_list",
            lambda p: self.client.v1.disputes.list(params=p),
            {"limit": 100, "created": {"gte": int(created_from.timestamp())}},
        ):
            yield parse_money_object(item.to_dict(), "dispute")

    def refund_payment(
        self, payment_intent_id: str, *, amount: int | None = None, idempotency_key: str
    ) -> RefundObject:
        """A refund made directly, as Stripe's dashboard makes one (tests and tools)."""
        params: dict[str, Any] = {"payment_intent": payment_intent_id}
        if amount is not None:
            params["amount"] = amount
        refund = self._call(
            "refund_create",
            lambda: self.client.v1.refunds.create(
                params=params,
                options={"idempotency_key": idempotency_key},
            ),
        )
        parsed: RefundObject = parse_money_object(refund.to_dict(), "refund")
        return parsed

    def submit_dispute_evidence(self, dispute_id: str, text: str) -> DisputeObject:
        """Answer a dispute with evidence; in test mode `winning_evidence` or
        `losing_evidence` decides it."""
        dispute = self._call(
            "dispute_update",
            lambda: self.client.v1.disputes.update(
                dispute_id, params={"evidence": {"uncategorized_text": text}, "submit": True}
            ),
        )
        parsed: DisputeObject = parse_money_object(dispute.to_dict(), "dispute")
        return parsed
