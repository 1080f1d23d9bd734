"""The HTTP face of the sandbox: Stripe's wire protocol around the handlers in `api.py`.

Every `/v1` call goes through the same steps: a request id, a Bearer `sk_test_` key, any
armed fault, parameter decoding and checking, the idempotency cache, the handler under the
store's lock, expansion, JSON. `/_sandbox/*` is the test-control surface; `/i/*` is the
hosted invoice page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from stripe_sandbox import hosted_page, payments
from stripe_sandbox.api import ROUTES
from stripe_sandbox.errors import StripeError, error_for_status, invalid_request
from stripe_sandbox.faults import Fault
from stripe_sandbox.objects import public
from stripe_sandbox.params import decode_form
from stripe_sandbox.routing import Route as ApiRoute
from stripe_sandbox.sandbox import API_VERSION, RequestContext, Sandbox, current_request
from stripe_sandbox.store import IdempotentResult, StripeObject, new_id
from stripe_sandbox.webhooks import Chaos

log = logging.getLogger("stripe_sandbox")

EXPANDABLE = {
    "customer": "customer",
    "invoice": "invoice",
    "charge": "charge",
    "latest_charge": "charge",
    "payment_intent": "payment_intent",
}
# Fields Stripe sends only when asked for with `expand[]` (its "includable" fields), by the
# kind of object that has them, each with how its value is found.
INCLUDABLE: dict[str, dict[str, Callable[[Sandbox, StripeObject], Any]]] = {
    "invoice": {
        "amount_paid_off_stripe": lambda _, invoice: invoice.get("_amount_paid_off_stripe", 0),
        "payments": payments.included_payments,
    }
}


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":  # `curl -u sk_test_...:` works too, as with Stripe
        with contextlib.suppress(ValueError):
            return base64.b64decode(credentials).decode().split(":", 1)[0]
    return None


def _authenticate(request: Request) -> None:
    key = _api_key(request)
    if not key:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    if not key.startswith("sk_test_"):
        shown = key[:8] + "*" * (len(key) - 12) + key[-4:] if len(key) > 12 else key[:3] + "***"
        raise StripeError(
            401,
            "invalid_request_error",
            f"Invalid API Key provided: {shown}. The sandbox takes test-mode secret keys "
            "(sk_test_...).",
        )


def _expand(sandbox: Sandbox, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replace ids by objects for `expand[]=customer` (or `data.customer` on a list), and add
    includable fields such as `expand[]=amount_paid_off_stripe` on an invoice."""
    for path in paths:
        parts = path.split(".")
        targets = (
            body["data"]
            if parts[0] == "data"
            and body.get("object")
            in (
                "list",
                "search_result",
            )
            else [body]
        )
        field = parts[-1] if parts[0] == "data" else parts[0]
        depth = 2 if parts[0] == "data" else 1
        includable = any(field in fields for fields in INCLUDABLE.values())
        if len(parts) != depth or not (field in EXPANDABLE or includable):
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        for target in targets:
            if field not in EXPANDABLE:
                _include(sandbox, target, field, path)
                continue
            value = target.get(field)
            if isinstance(value, str):
                found = sandbox.store.get(EXPANDABLE[field], value)
                if found is not None:
                    target[field] = public(found)
    return body


def _include(sandbox: Sandbox, target: dict[str, Any], field: str, path: str) -> None:
    kind = str(target.get("object"))
    if field not in INCLUDABLE.get(kind, {}):
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    stored = sandbox.store.get(kind, target["id"])
    if stored is not None and not target.get("deleted"):
        value = INCLUDABLE[kind][field](sandbox, stored)
        target[field] = public(value) if isinstance(value, dict) else value


def _json(body: Any, status: int, headers: Mapping[str, str]) -> Response:
    return Response(
        json.dumps(body, indent=2),
        status_code=status,
        media_type="application/json",
        headers=dict(headers),
    )


def _error_response(error: StripeError, headers: dict[str, str]) -> Response:
    return _json(error.body(), error.status, headers)


def api_endpoint(sandbox: Sandbox, route: ApiRoute) -> Any:
    async def endpoint(request: Request) -> Response:
        request_id = new_id("request")
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key:
            headers["Idempotency-Key"] = key
        claimed = False
        try:
            _authenticate(request)
            sandbox.request_counts[f"{route.method} {route.path}"] += 1
            fault = sandbox.faults.take(request.method, request.url.path)
            raw = decode_form(request.url.query)
            if request.method == "POST":
                raw.update(decode_form((await request.body()).decode()))
            # A fault `before` with a status stands for a failure on the way to Stripe: the
            # request never arrives, so nothing is run or remembered under its key. Any
            # other request is in Stripe's hands from here, during a delay too: a retry
            # with its key meanwhile is refused as in progress, and a client that times
            # out still leaves the change made.
            lost_on_the_way = fault is not None and fault.when == "before" and bool(fault.status)
            if key and not lost_on_the_way:
                _claim(sandbox, key)
                claimed = True
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.when == "before" and fault.status:
                raise error_for_status(fault.status, fault.message)
            status, body = _run(sandbox, route, request, raw, key, request_id, headers)
            # A fault `after` loses Stripe's answer on the way back; the result stays
            # remembered under the key, so a retry with it gets the change's own answer.
            if fault is not None and fault.when == "after" and fault.status:
                raise error_for_status(fault.status, fault.message)
            return Response(
                body, status_code=status, media_type="application/json", headers=headers
            )
        except StripeError as error:
            return _error_response(error, headers)
        finally:
            if claimed and key:
                sandbox.keys_in_flight.discard(key)

    return endpoint


def _claim(sandbox: Sandbox, key: str) -> None:
    """Mark a key's request as executing; another request with it meanwhile is a 409, and
    Stripe saves no result for that one, so it can be retried."""
    if key in sandbox.keys_in_flight:
        raise StripeError(
            409,
            "invalid_request_error",
            "There is currently another in-progress request using this Idempotent Key "
            "(that probably means you submitted twice, and the other request is still "
            f"going through): {key}. Please try again later.",
            code="idempotency_key_in_use",
        )
    sandbox.keys_in_flight.add(key)


def _run(
    sandbox: Sandbox,
    route: ApiRoute,
    request: Request,
    raw: dict[str, Any],
    key: str | None,
    request_id: str,
    headers: dict[str, str],
) -> tuple[int, str]:
    """Run a handler once per idempotency key; a repeat with the same key replays its answer."""
    with sandbox.store.lock:
        if key:
            earlier = sandbox.store.idempotency.get(key)
            if earlier is not None:
                if (earlier.method, earlier.path, earlier.params) != (
                    request.method,
                    request.url.path,
                    raw,
                ):
                    raise StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                    )
                headers["Idempotent-Replayed"] = "true"
                return earlier.status, earlier.body
        params = route.spec.validate(raw)  # a refused parameter is not remembered, as in Stripe
        token = current_request.set(RequestContext(request_id, key))
        try:
            result = route.handler(sandbox, params, request.path_params)
            status, text = (
                200,
                json.dumps(_expand(sandbox, public(result), params["expand"]), indent=2),
            )
        except StripeError as error:
            status, text = error.status, json.dumps(error.body(), indent=2)
        except Exception:  # a sandbox bug still answers in Stripe's shape, and is logged
            log.exception("sandbox.handler.crashed path=%s", request.url.path)
            crash = StripeError(500, "api_error", "The sandbox failed to handle this request.")
            status, text = crash.status, json.dumps(crash.body(), indent=2)
        finally:
            current_request.reset(token)
        if key:
            sandbox.store.remember(
                key, IdempotentResult(request.method, request.url.path, raw, status, text)
            )
        return status, text


async def unrecognized(request: Request) -> Response:
    error = StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({request.method}: {request.url.path}). The sandbox "
        "serves the Stripe endpoints listed in its README.",
    )
    return _error_response(error, {"Request-Id": new_id("request")})


def control_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The test-control surface: faults, reset, chaos, clock, delivery log."""

    async def add_fault(request: Request) -> Response:
        try:
            fault = Fault.from_json(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        sandbox.faults.add(fault)
        return JSONResponse({"faults": sandbox.faults.listing()})

    async def list_faults(_: Request) -> Response:
        return JSONResponse({"faults": sandbox.faults.listing()})

    async def clear_faults(_: Request) -> Response:
        sandbox.faults.clear()
        return JSONResponse({"faults": []})

    async def reset(_: Request) -> Response:
        with sandbox.store.lock:
            sandbox.reset()
        return JSONResponse({"reset": True})

    async def set_chaos(request: Request) -> Response:
        try:
            chaos = Chaos.from_dict(await request.json())
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        sandbox.dispatcher.set_chaos(chaos)
        return JSONResponse(vars(chaos))

    def clock() -> Response:
        return JSONResponse(
            {
                "now": sandbox.now(),
                "offset": sandbox.store.clock_offset,
                "held": sandbox.store.clock_held_at is not None,
            }
        )

    async def move_clock(request: Request) -> Response:
        """`{"seconds": N}` moves the clock forward N seconds; `{"at": T}` sets it to the
        Unix time T, earlier or later (a demo loads its history at the times it happened).
        `"hold": true` with either stands the clock still there until the next move."""
        try:
            data = await request.json()
            if not isinstance(data, dict) or len(data.keys() & {"seconds", "at"}) != 1:
                raise ValueError('give one of "seconds" or "at"')
            if not data.keys() <= {"seconds", "at", "hold"}:
                raise ValueError(
                    f"unknown fields: {sorted(data.keys() - {'seconds', 'at', 'hold'})}"
                )
            hold = data.get("hold", False)
            if not isinstance(hold, bool):
                raise ValueError('"hold" is true or false')
            if "at" in data:
                sandbox.set_clock(int(data["at"]), hold=hold)
            else:
                seconds = int(data["seconds"])
                if seconds < 0:
                    raise ValueError('"seconds" moves the clock forward; use "at" to go back')
                sandbox.set_clock(seconds=seconds, hold=hold)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        return clock()

    async def read_clock(_: Request) -> Response:
        return clock()

    async def deliveries(_: Request) -> Response:
        with sandbox.dispatcher.condition:
            attempts = list(sandbox.dispatcher.attempts)
        return JSONResponse({"attempts": attempts, "pending": sandbox.dispatcher.pending()})

    async def drain(request: Request) -> Response:
        """Wait until no delivery is queued or in flight, or the timeout passes."""
        data = await request.json() if await request.body() else {}
        deadline = asyncio.get_running_loop().time() + float(data.get("timeout", 10))
        while sandbox.dispatcher.pending() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return JSONResponse({"pending": sandbox.dispatcher.pending()})

    async def request_counts(_: Request) -> Response:
        """How many authenticated API calls each route got since the last reset."""
        return JSONResponse(dict(sandbox.request_counts))

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "api_version": API_VERSION})

    return [
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/chaos", set_chaos, methods=["POST"]),
        Route("/_sandbox/clock", move_clock, methods=["POST"]),
        Route("/_sandbox/clock", read_clock, methods=["GET"]),
        Route("/_sandbox/deliveries", deliveries, methods=["GET"]),
        Route("/_sandbox/webhooks/drain", drain, methods=["POST"]),
        Route("/_sandbox/requests", request_counts, methods=["GET"]),
        Route("/_sandbox/health", health, methods=["GET"]),
    ]


def _autosave(sandbox: Sandbox, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if sandbox.store.dirty:
            try:
                sandbox.store.save()
            except Exception:  # keep saving later; one failure must not stop autosave
                log.exception("sandbox.save.failed")


def create_app(sandbox: Sandbox) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        saver = threading.Thread(target=_autosave, args=(sandbox, stop), daemon=True)
        sandbox.publish_clock()  # the clock as saved, for the run's other processes
        sandbox.dispatcher.start()
        saver.start()
        try:
            yield
        finally:
            stop.set()
            saver.join(timeout=5)
            sandbox.dispatcher.stop()
            sandbox.store.save()

    routes: list[BaseRoute] = [
        Route(route.path, api_endpoint(sandbox, route), methods=[route.method]) for route in ROUTES
    ]
    routes += control_routes(sandbox)
    routes += hosted_page.routes(sandbox)
    routes.append(
        Route("/{path:path}", unrecognized, methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    )
    return Starlette(routes=routes, lifespan=lifespan)
