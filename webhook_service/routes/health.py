"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database does,
with the outbox backlog and the last webhook's age)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db.session import session_scope
from core.observability.health import Health, read_health
from webhook_service.deps import ContextDep
from webhook_service.errors import error_response

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(context: ContextDep) -> dict[str, Any] | JSONResponse:
    """Ready when the database answers. With how the system stands (the outbox backlog, the
    last webhook's age, open invoices, the last drift check: the dashboard's figures), best
    effort: a figure that cannot be read does not take the replica out of service."""

    def read() -> Health | None:
        # One read transaction: the ping, then the figures (None if one cannot be read).
        with session_scope(context.readers) as session:  # takes no write lock on SQLite
            session.execute(text("SELECT 1"))
            try:
                return read_health(session)
            except Exception:  # noqa: BLE001 - readiness is the database's; figures are extra
                log.exception("readyz.figures_unreadable")
                session.rollback()  # a failed statement leaves PostgreSQL's transaction unusable
                return None

    try:
        health = await run_in_threadpool(read)
    except SQLAlchemyError as error:
        return error_response(503, "database_unavailable", f"database unreachable: {error}")
    ready: dict[str, Any] = {"status": "ready", "database": context.engine.dialect.name}
    if health is None:
        ready["figures"] = "unreadable; see the service's log"
        return ready
    return ready | health.to_dict()
