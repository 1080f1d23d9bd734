"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database does)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db.session import session_scope
from webhook_service.deps import ContextDep
from webhook_service.errors import error_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(context: ContextDep) -> dict[str, Any] | JSONResponse:
    def ping() -> None:
        with session_scope(context.readers) as session:  # takes no write lock on SQLite
            session.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except SQLAlchemyError as error:
        return error_response(503, "database_unavailable", f"database unreachable: {error}")
    return {"status": "ready", "database": context.engine.dialect.name}
