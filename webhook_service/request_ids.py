"""A request id for every HTTP request: the caller's `X-Request-ID` when it is a sane one
(a proxy's or a load balancer's), else a new one; set for the request's logs
(core.observability.logs.REQUEST_ID, which the worker threads the request runs in inherit)
and sent back in the answer's `X-Request-ID`.

A pure ASGI middleware rather than Starlette's BaseHTTPMiddleware, which would wrap each
webhook's answer in a second streaming response on the hot path.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.observability.logs import REQUEST_ID

HEADER = b"x-request-id"
_SANE = re.compile(rb"^[0-9A-Za-z._\-]{8,64}$")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if _SANE.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
