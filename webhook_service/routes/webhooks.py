"""`POST /payments/stripe/webhook` (and the seed's `/payments/webhook`): Stripe's events in.

Answers (decided in core.billing.webhooks.answer_or_work): 400 for what is not a Stripe event
(bad signature, stale timestamp, not JSON); 413 above 1 MiB; 200 with the recorded
outcome for every genuine event, refused ones included; 500 only when the database could
not take it for a reason a retry cures, so that Stripe delivers again. A sender that hangs
up mid-body is let go quietly (a line at INFO, no traceback).

Intake runs in worker threads of its own, at most WEBHOOK_THREADS at once: one process
cannot run more Python at a time than one, so more threads would only wait for each
other (and for connections) while holding their transactions open; the deliveries past
that wait, unanswered, in the event loop.
"""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from core.billing.webhooks import Delivery, answer_or_work
from webhook_service.deps import ContextDep
from webhook_service.errors import error_response

MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_THREADS = 8  # below the pool's size (core.db.session.POOL_SIZE): never waits for one

router = APIRouter(tags=["webhooks"])
log = logging.getLogger(__name__)


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
    try:
        payload = await _read_limited(request)
    except ClientDisconnect:
        # The sender hung up mid-body (Stripe gave up waiting): nothing was read, nothing
        # is done, and Stripe sends the event again. No one hears this answer.
        log.info("stripe.webhook.sender_gone")
        return error_response(400, "client_disconnected", "The body did not arrive whole.")
    if payload is None:
        return error_response(413, "payload_too_large", "Webhook bodies are limited to 1 MiB.")
    signature = request.headers.get("stripe-signature")

    # Checking the signature and the envelope is short CPU work, done here; only the
    # database work goes to a thread.
    answer = answer_or_work(
        context.sessions,
        payload,
        signature,
        secret=context.settings.webhook_secrets,
        currency=context.settings.currency,
    )
    if not isinstance(answer, Delivery):
        answer = await anyio.to_thread.run_sync(answer, limiter=_limiter(request))
    return JSONResponse(answer.body, status_code=answer.status)


def _limiter(request: Request) -> anyio.CapacityLimiter:
    """The intake threads' limiter, one per app (made in its event loop, on first use)."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "webhook_limiter", None)
    if limiter is None:
        limiter = state.webhook_limiter = anyio.CapacityLimiter(WEBHOOK_THREADS)
    return limiter
