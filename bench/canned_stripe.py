"""The baseline for sandbox benchmarks: a server on the same stack (Starlette + uvicorn)
that answers every Stripe call with a fixed, pre-serialized object and does no work.

Whatever the SDK and HTTP cost, this server costs too; the sandbox's own cost is the gap.
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sandbox import objects
from stripe_sandbox.objects import public

# Objects shaped exactly as the sandbox shapes them, so both servers send the same bytes.
CUSTOMER = public(objects.customer({"name": "Bench", "metadata": {"user_id": "1"}}, 1_700_000_000))
INVOICE = public(
    objects.invoice(
        {
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "auto_advance": False,
            "metadata": {"job_id": "1", "payment_id": "1"},
        },
        CUSTOMER,
        1_700_000_000,
    )
)
PAGE = json.dumps(
    {"object": "list", "data": [INVOICE] * 100, "has_more": True, "url": "/v1/invoices"},
    indent=2,
)
ONE_INVOICE = json.dumps(INVOICE, indent=2)
ONE_CUSTOMER = json.dumps(CUSTOMER, indent=2)


async def answer(request: Request) -> Response:
    await request.body()
    if request.url.path.startswith("/v1/customers"):
        body = ONE_CUSTOMER
    elif request.method == "GET" and request.url.path == "/v1/invoices":
        body = PAGE
    else:
        body = ONE_INVOICE
    return Response(body, media_type="application/json", headers={"Request-Id": "req_canned"})


app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST", "DELETE"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
