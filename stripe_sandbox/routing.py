"""What every route module shares: the route, fetching by id, and Stripe's list pages.

A route declares the parameters it accepts (a `Spec`) and a handler that runs under the
store's lock with validated parameters; the server wraps it in auth, idempotency, faults
and expansion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stripe_sandbox.errors import invalid_request, no_such
from stripe_sandbox.params import Param, Spec, metadata, string, timestamp_range
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import KINDS, StripeObject

Handler = Callable[[Sandbox, dict[str, Any], Mapping[str, str]], dict[str, Any]]

# How Stripe names each kind in "No such ..." errors: the object's own name.
KIND_LABEL = {kind: kind for kind in KINDS}

NO_PARAMS = Spec()
DELETE_PARAMS = Spec(expandable=False)  # Stripe's delete calls take no parameters at all
ID = Param(string)
METADATA = Param(metadata)
CREATED = Param(timestamp_range)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    spec: Spec
    handler: Handler


def fetch(sandbox: Sandbox, kind: str, object_id: str, *, param: str = "id") -> StripeObject:
    """An object by id, or Stripe's resource_missing (404 for the path, 400 for a parameter)."""
    obj = sandbox.store.get(kind, object_id)
    if obj is None:
        raise no_such(
            KIND_LABEL[kind], object_id, param=param, status=404 if param == "id" else 400
        )
    return obj


def list_page(
    sandbox: Sandbox,
    kind: str,
    params: dict[str, Any],
    url: str,
    keep: Callable[[StripeObject], bool] = lambda _: True,
) -> dict[str, Any]:
    """One page of a newest-first list, in Stripe's list shape, with its cursors checked."""
    for cursor in ("starting_after", "ending_before"):
        if params.get(cursor) and not sandbox.store.knows(kind, params[cursor]):
            raise no_such(KIND_LABEL[kind], params[cursor], param=cursor, status=400)
    if params.get("starting_after") and params.get("ending_before"):
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    items, has_more = sandbox.store.page(
        kind,
        keep,
        limit=params.get("limit") or 10,
        starting_after=params.get("starting_after"),
        ending_before=params.get("ending_before"),
    )
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def retrieve(kind: str) -> Handler:
    return lambda sb, _, ids: fetch(sb, kind, ids["id"])


def lister(kind: str, url: str) -> Handler:
    return lambda sb, p, _: list_page(sb, kind, p, url)
