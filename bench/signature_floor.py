"""The floor for webhook intake: a FastAPI app on the webhook service's stack that only
verifies the Stripe signature of a delivery and answers 200.

    STRIPE_WEBHOOK_SECRET=whsec_... uvicorn bench.signature_floor:app

`bench.webhooks` serves it with the same uvicorn options as the real service and reports
the service's throughput as a ratio of this one's: what is left is the cost of the
service's own work (validation, the database, the answer it records).
"""

from __future__ import annotations

import os

import stripe
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

WEBHOOK = "/payments/stripe/webhook"
TOLERANCE = 300

app = FastAPI()
_secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post(WEBHOOK, response_model=None)
async def webhook(request: Request) -> JSONResponse:
    payload = (await request.body()).decode("utf-8")
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("stripe-signature"), _secret, TOLERANCE
        )
    except stripe.SignatureVerificationError:
        return JSONResponse({"error": {"code": "invalid_webhook"}}, status_code=400)
    return JSONResponse({"received": True})
