"""HTTP routes served beside the dashboard that set and clear its session cookie.

A page's script cannot set an HttpOnly cookie, so the sign-in page sends the browser to
`/session/start` with a one-time ticket; the route trades it for the cookie and redirects
to the page the person first asked for. `/session/end` (a POST) revokes the session and
clears the cookie. Both are plain functions, which Starlette runs in its thread pool, so
their database work never blocks the event loop the app's websockets run on.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.identity.dashboard_sessions import (
    SESSION_LIFETIME,
    SessionRefused,
    end_session,
    start_session,
)
from dashboard.components.runtime import db_session, settings
from dashboard.components.session_cookie import (
    COOKIE_NAME,
    END_PATH,
    HOME,
    START_PATH,
    safe_next,
)

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _over_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _refused(message: str, next_path: str) -> Response:
    body = (
        "<!doctype html><title>Sign in again</title>"
        f"<p>{escape(message)}</p><p><a href='{escape(next_path)}'>Sign in again</a></p>"
    )
    return HTMLResponse(body, status_code=400, headers=NO_STORE)


def start(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    ticket = request.query_params.get("ticket", "")
    if not ticket:
        return _refused("This sign-in link has no ticket.", next_path)
    try:
        with db_session() as session:
            started = start_session(session, settings(), ticket)
    except SessionRefused as refused:
        return _refused(refused.message, next_path)
    response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
    response.set_cookie(
        COOKIE_NAME,
        started.cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=_over_https(request),
        httponly=True,
        samesite="lax",
    )
    return response


def end(request: Request) -> Response:
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        with db_session() as session:
            end_session(session, settings(), cookie)
    response = RedirectResponse(HOME, status_code=303, headers=NO_STORE)
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=_over_https(request), httponly=True, samesite="lax"
    )
    return response


ROUTES: list[BaseRoute] = [
    Route(START_PATH, start, methods=["GET"]),
    Route(END_PATH, end, methods=["POST"]),
]
