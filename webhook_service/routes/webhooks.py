"""`POST /payments/stripe/webhook` (and the seed's `/payments/webhook`): Stripe's events in.

Answers (decided in core.billing.webhooks.receive): 400 for what is not a Stripe event
(bad signature, stale timestamp, not JSON); 413 above 1 MiB; 200 with the recorded
outcome for every genuine event, refused ones included; 500 only when the database could
not take it for a reason a retry cures, so that Stripe delivers again.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from core.billing.webhooks import receive
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
async def stripe_webhook(request: Request, context: ContextDep) -> JSONResponse:
    payload = await _read_limited(request)
    if payload is None:
        return error_response(413, "payload_too_large", "Webhook bodies are limited to 1 MiB.")
    secret = context.settings.stripe_webhook_secret
    delivery = await run_in_threadpool(
        receive,
        context.sessions,
        payload,
        request.headers.get("stripe-signature"),
        secret=secret.get_secret_value() if secret else "",
        currency=context.settings.currency,
    )
    return JSONResponse(delivery.body, status_code=delivery.status)
