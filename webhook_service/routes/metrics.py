"""`GET /metrics`: Prometheus's scrape of this service (core.observability.metrics). Open,
like the health checks: it names counts and event types, never a customer or a secret;
keep it off the public listener in production (docs/operations.md)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from core.observability.database_gauges import DatabaseCollector
from core.observability.metrics import exposition
from webhook_service.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def scrape(context: ContextDep) -> Response:
    body, content_type = await run_in_threadpool(exposition, DatabaseCollector(context.readers))
    return Response(body, media_type=content_type)
