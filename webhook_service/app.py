"""The webhook service: `uvicorn webhook_service.app:app`.

A thin FastAPI app: it parses HTTP, checks signatures and calls `core`. It refuses to
start without a webhook signing secret, since every event would then be refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from core.config import get_settings
from core.context import AppContext
from core.observability import logs
from webhook_service.errors import install_error_handlers
from webhook_service.request_ids import RequestIds
from webhook_service.routes import (
    health,
    job_view,
    jobs,
    metrics,
    notifications,
    payments,
    webhooks,
)

MISSING_SECRET = (
    "STRIPE_WEBHOOK_SECRET is not set, so no Stripe event could be verified. "
    "Against the sandbox, `make run` registers the endpoint and sets it for you; against "
    "Stripe test mode, run `stripe listen --forward-to "
    "localhost:8000/payments/stripe/webhook` and set STRIPE_WEBHOOK_SECRET to the whsec_... "
    "it prints (or copy the signing secret of your endpoint in the Stripe dashboard)."
)


API_DESCRIPTION = """
Jobs, invoices, earnings and payment history for the marketplace's customer and provider
apps. Every endpoint but the webhooks and health checks needs
`Authorization: Bearer <token>`; `python -m core.cli token --role provider --id 3` issues
one (roles: customer, provider, admin, finance). Money is integer cents. Errors always
answer `{"error": {"code", "message"}}`; someone else's job is a 404, not a 403.
"""


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # The request id around everything, Starlette's error middleware included, so an
        # answer of 500 and its traceback carry the id too.
        return RequestIds(super().build_middleware_stack())


def create_app(context: AppContext | None = None) -> FastAPI:
    logs.configure()  # LOG_FORMAT: one JSON object a line, or readable lines

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        current = context or AppContext.create(get_settings())
        secret = current.settings.stripe_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise RuntimeError(MISSING_SECRET)
        app.state.context = current
        try:
            yield
        finally:
            if owned:
                current.close()

    app = _App(
        title="Job to paid: webhook service",
        summary="Receives Stripe webhooks and serves the marketplace's payment endpoints.",
        description=API_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(webhooks.router)
    app.include_router(jobs.router)
    app.include_router(job_view.router)
    app.include_router(payments.router)
    app.include_router(notifications.router)
    return app


app = create_app()
