"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database does,
with the outbox backlog and the last webhook's age)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from core.db.session import session_scope
from core.observability.health import Health, read_health
from webhook_service.deps import ContextDep
from webhook_service.errors import error_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(context: ContextDep) -> dict[str, Any] | JSONResponse:
    """Ready when the database answers; with how the system stands (the outbox backlog, the
    last webhook's age, open invoices, the last drift check), the dashboard's figures."""

    def read() -> Health:
        with session_scope(context.readers) as session:  # takes no write lock on SQLite
            return read_health(session)

    try:
        health = await run_in_threadpool(read)
    except SQLAlchemyError as error:
        return error_response(503, "database_unavailable", f"database unreachable: {error}")
    return {"status": "ready", "database": context.engine.dialect.name, **health.to_dict()}
