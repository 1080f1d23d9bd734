"""Request and response bodies of the REST API. Money is integer cents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from core.billing.invoice_status import SHOWN_STATUSES
from core.money import MAX_PRICE_CENTS, minimum_charge


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["No job #42"])
    fields: list[dict[str, str]] | None = Field(
        default=None, description="For 422: each failing field and what is wrong with it"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers an endpoint can give."""
    text = {
        400: "Bad request",
        401: "No token, or a malformed, wrongly signed or expired one",
        403: "This role may never call this endpoint",
        404: "No such object, or it belongs to someone else",
        409: "The object is not in a state that allows this",
        422: "Invalid input; `fields` names each failing field",
        502: "Stripe refused or failed; the job is unchanged or stays completed",
        503: "Stripe is unavailable or rate limiting; try again",
    }
    return {status: {"model": ErrorBody, "description": text[status]} for status in statuses}


def _json_number(value: object) -> object:
    """JSON Schema's integer: 15000 or 15000.0, but never true or "15000"."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number, not a boolean or a string")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: JsonInt = Field(gt=0, le=2**31 - 1)
    provider_id: JsonInt = Field(gt=0, le=2**31 - 1)
    price: JsonInt = Field(
        ge=minimum_charge("usd"),
        le=MAX_PRICE_CENTS,
        description="In cents, e.g. 15000 for $150.00; at least Stripe's minimum charge in the "
        "configured currency (50 cents in USD)",
    )
    description: str | None = Field(default=None, max_length=2000)


class PaymentOut(BaseModel):
    id: int
    amount: int = Field(description="In cents")
    status: Literal["pending", "received"]
    method: str | None
    marked_at: datetime | None


class JobOut(BaseModel):
    id: int
    status: Literal["new", "completed", "paid", "cancelled"]
    price: int = Field(description="In cents")
    description: str | None
    service_id: int
    customer_id: int
    provider_id: int
    created_at: datetime
    completed_at: datetime | None
    paid_at: datetime | None
    payment: PaymentOut


class RefundLineOut(BaseModel):
    id: str = Field(description="Stripe's refund id")
    amount: int = Field(description="In cents")
    currency: str
    status: Literal["pending", "requires_action", "succeeded", "failed", "canceled"]
    status_text: str = Field(examples=["refunded"], description="The status in words")
    reason: str | None = Field(description="Stripe's reason code, e.g. requested_by_customer")
    memo: str | None = Field(description="The person's reason: plain text, never markup")
    created: datetime = Field(description="When Stripe made it: the refund's date")
    credit_note_id: str | None


class DisputeLineOut(BaseModel):
    id: str = Field(description="Stripe's dispute id")
    amount: int = Field(description="In cents")
    currency: str
    status: str = Field(examples=["needs_response"], description="Stripe's dispute status")
    status_text: str = Field(description="The status in words")
    reason: str | None = Field(description="Stripe's reason code, e.g. fraudulent")
    created: datetime
    evidence_due_by: datetime | None
    closed_at: datetime | None
    outcome: str | None = Field(description="How it ended, in words; unset while open")


class MoneyBackOut(BaseModel):
    refunded: int = Field(description="Cents refunded (refunds not failed or canceled)")
    disputed: int = Field(description="Cents held by open disputes")
    dispute_lost: int = Field(description="Cents lost in disputes")
    taken_back: int = Field(description="Cents taken off the provider's earnings")
    refunds: list[RefundLineOut] = Field(description="Oldest first")
    disputes: list[DisputeLineOut] = Field(description="Oldest first")


class JobViewOut(JobOut):
    invoice_status: Literal[SHOWN_STATUSES] = Field(  # type: ignore[valid-type]
        examples=["partly refunded"],
        description="What the job's invoice shows: not invoiced (none), its Stripe status, "
        "overdue, or for a paid one what moved back of it (partly refunded, refunded, "
        "disputed, dispute lost)",
    )
    money_back: MoneyBackOut


class UpdateStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["mark_complete"]


class InvoiceOut(BaseModel):
    invoice_id: str
    status: str = Field(examples=["open"])
    number: str | None
    amount_due: int = Field(description="In cents")
    amount_paid: int = Field(description="In cents")
    currency: str
    due_date: datetime | None
    overdue: bool
    hosted_invoice_url: str | None = Field(description="Where the customer pays")
    invoice_pdf: str | None


class CompletionOut(BaseModel):
    job: JobOut
    invoice: InvoiceOut | None = Field(description="Set when the invoice was sent")
    invoicing_error: ErrorDetail | None = Field(
        description="Set when invoicing failed; the job stays completed and send-invoice retries"
    )


class MonthOut(BaseModel):
    month: date
    amount: int = Field(description="In cents")
    payments: int


class EarningsOut(BaseModel):
    provider_id: int
    balance: int = Field(
        description="Cents the provider keeps: received, less refunded and lost to disputes"
    )
    jobs_paid: int = Field(description="Received payments not wholly refunded or lost")
    outstanding: int = Field(description="Cents billed for completed jobs not yet paid")
    jobs_outstanding: int
    received: int = Field(description="Cents the received payments brought in, all time")
    refunded: int = Field(description="Cents refunds took off earnings, all time")
    refunded_this_month: int = Field(description="Of those, refunds dated this month (UTC)")
    dispute_lost: int = Field(description="Cents lost disputes took off earnings, all time")
    held: int = Field(
        description="Cents held by open disputes: still in the balance until the bank decides"
    )
    by_month: list[MonthOut] = Field(
        description="Net: each month's payments received, less the refunds dated in it and "
        "the disputes lost in it"
    )


class HistoryItemOut(BaseModel):
    payment_id: int
    job_id: int
    amount: int = Field(description="In cents")
    status: Literal["pending", "received"]
    method: str | None
    marked_at: datetime | None
    created_at: datetime
    job_status: str
    service: str
    customer_id: int
    provider_id: int


class HistoryPageOut(BaseModel):
    items: list[HistoryItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(examples=["payment_confirmed"])
    title: str = Field(description="Plain text, never markup: show it as text")
    body: str = Field(description="Plain text, never markup: show it as text")
    job_id: int | None
    created_at: datetime
    read_at: datetime | None = Field(description="Unset while unread")


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class MarkedReadOut(BaseModel):
    marked_read: int = Field(description="How many were unread and are now read")
