"""`POST /payments/stripe/webhook` (and the seed's `/payments/webhook`): Stripe's events in.

Answers: 400 for a missing or bad signature, a timestamp outside 300 s, or a body that is
not JSON; 413 above 1 MiB; 200 for everything handled, duplicated, ignored or flagged;
500 only when the database fails, so that Stripe delivers again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from core.billing.stripe_gateway import StripeGateway
from core.billing.webhooks import WebhookProcessingFailed, process_event
from webhook_service.deps import ContextDep
from webhook_service.errors import error_response

MAX_BODY_BYTES = 1024 * 1024

router = APIRouter(tags=["webhooks"])


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None once it passes the limit (without reading the rest into memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


@router.post("/payments/stripe/webhook", response_model=None)
@router.post("/payments/webhook", response_model=None, include_in_schema=False)
async def stripe_webhook(request: Request, context: ContextDep) -> dict[str, Any] | JSONResponse:
    payload = await _read_limited(request)
    if payload is None:
        return error_response(413, "payload_too_large", "Webhook bodies are limited to 1 MiB.")
    secret = context.settings.stripe_webhook_secret
    try:
        event = StripeGateway.verify_event(
            payload,
            request.headers.get("stripe-signature"),
            secret.get_secret_value() if secret else "",
        )
    except ValueError as error:
        return error_response(400, "invalid_webhook", str(error))
    try:
        processed = await run_in_threadpool(process_event, context.sessions, event)
    except WebhookProcessingFailed as error:
        return error_response(500, "database_unavailable", str(error))
    return {"received": True, "event_id": processed.event_id, "outcome": processed.outcome}
