"""In-memory state of the sandbox: objects by kind, in creation order, plus idempotency results.

Lists are served newest first, as Stripe serves them; a cursor (`starting_after`) finds its
place through a position index, so a page costs the page, not the whole list.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = (
    "customer",
    "invoice",
    "invoiceitem",
    "event",
    "webhook_endpoint",
    "payment_intent",
    "charge",
    "invoice_payment",
    "refund",
    "credit_note",
    "dispute",
)
ID_PREFIX = {
    "customer": "cus",
    "invoice": "in",
    "invoiceitem": "ii",
    "line_item": "il",
    "event": "evt",
    "webhook_endpoint": "we",
    "request": "req",
    "payment_intent": "pi",
    "charge": "ch",
    "invoice_payment": "inpay",
    "refund": "re",
    "credit_note": "cn",
    "credit_note_line": "cnli",
    "dispute": "dp",
}
_ALPHABET = string.ascii_letters + string.digits

StripeObject = dict[str, Any]


def new_id(kind: str) -> str:
    """An id shaped like Stripe's: a prefix and 24 random base62 characters."""
    return f"{ID_PREFIX[kind]}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


# Stripe forgets idempotency keys after 24 hours; so does the sandbox, which bounds the cache.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass
class IdempotentResult:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: str
    saved_at: float = field(default_factory=time.time)


class Store:
    """All objects, guarded by one lock; every API handler runs under it."""

    def __init__(self, data_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.save_lock = threading.Lock()
        self.clock_offset = 0  # seconds the sandbox clock runs ahead (POST /_sandbox/clock)
        # A clock held at this Unix time until it is moved again, as a Stripe test clock
        # stands still between advances (tests that need two objects in one second).
        self.clock_held_at: int | None = None
        self.data_file = data_file
        self.dirty = False
        self.objects: dict[str, dict[str, StripeObject]] = {}
        self.order: dict[str, list[str]] = {}
        self.position: dict[str, dict[str, int]] = {}
        self.idempotency: dict[str, IdempotentResult] = {}
        # (metadata key, lower-cased value) → ids, oldest first: metadata search without a scan.
        # Metadata is only set at creation (the sandbox has no update calls), so adds suffice.
        self.metadata_index: dict[str, dict[tuple[str, str], list[str]]] = {}
        self.reset()
        if data_file is not None and data_file.exists():
            self.load(data_file)

    def reset(self) -> None:
        with self.lock:
            self.objects = {kind: {} for kind in KINDS}
            self.order = {kind: [] for kind in KINDS}
            self.position = {kind: {} for kind in KINDS}
            self.idempotency = {}
            self.metadata_index = {kind: {} for kind in KINDS}
            self.clock_offset = 0
            self.clock_held_at = None
            self.dirty = True

    def add(self, kind: str, obj: StripeObject) -> StripeObject:
        with self.lock:
            object_id = obj["id"]
            self.objects[kind][object_id] = obj
            self.position[kind][object_id] = len(self.order[kind])
            self.order[kind].append(object_id)
            for key, value in obj.get("metadata", {}).items():
                self.metadata_index[kind].setdefault((key, value.lower()), []).append(object_id)
            self.dirty = True
            return obj

    def get(self, kind: str, object_id: str) -> StripeObject | None:
        return self.objects[kind].get(object_id)

    def remove(self, kind: str, object_id: str) -> None:
        with self.lock:
            self.objects[kind].pop(object_id, None)
            self.dirty = True

    def remember(self, key: str, result: IdempotentResult) -> None:
        """Keep an answer for its key; keys older than Stripe's 24 hours are forgotten."""
        with self.lock:
            self.idempotency[key] = result
            oldest = next(iter(self.idempotency))
            while time.time() - self.idempotency[oldest].saved_at > IDEMPOTENCY_TTL_SECONDS:
                del self.idempotency[oldest]
                oldest = next(iter(self.idempotency))
            self.dirty = True

    def touch(self) -> None:
        self.dirty = True

    def newest_first(
        self, kind: str, keep: Callable[[StripeObject], bool] = lambda _: True
    ) -> Iterator[StripeObject]:
        objects = self.objects[kind]
        for object_id in reversed(self.order[kind]):
            obj = objects.get(object_id)
            if obj is not None and keep(obj):
                yield obj

    def with_metadata(self, kind: str, key: str, value: str) -> Iterator[StripeObject]:
        """Objects whose metadata has key=value (case-insensitive), newest first."""
        objects = self.objects[kind]
        for object_id in reversed(self.metadata_index[kind].get((key, value.lower()), [])):
            obj = objects.get(object_id)
            if obj is not None:
                yield obj

    def page(
        self,
        kind: str,
        keep: Callable[[StripeObject], bool],
        *,
        limit: int,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[StripeObject], bool]:
        """One page of a newest-first list, Stripe's cursor semantics; returns (items, has_more)."""
        order, objects, positions = self.order[kind], self.objects[kind], self.position[kind]
        if ending_before is not None:
            start = positions[ending_before] + 1
            found: list[StripeObject] = []
            for object_id in order[start:]:
                obj = objects.get(object_id)
                if obj is not None and keep(obj):
                    found.append(obj)
                    if len(found) > limit:
                        break
            has_more = len(found) > limit
            # The page nearest the cursor, still served newest first.
            return list(reversed(found[:limit])), has_more
        end = positions[starting_after] if starting_after is not None else len(order)
        items: list[StripeObject] = []
        for index in range(end - 1, -1, -1):
            obj = objects.get(order[index])
            if obj is not None and keep(obj):
                if len(items) == limit:
                    return items, True
                items.append(obj)
        return items, False

    def knows(self, kind: str, object_id: str) -> bool:
        """Whether an id was ever issued for this kind (deleted objects still anchor cursors)."""
        return object_id in self.position[kind]

    # Persistence, for `--data FILE`: the demo keeps its Stripe state across restarts.

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                # Ids in creation order, deleted ones included: they still anchor cursors.
                "order": self.order,
                "objects": {kind: list(self.objects[kind].values()) for kind in KINDS},
                "idempotency": {key: vars(result) for key, result in self.idempotency.items()},
                "clock_offset": self.clock_offset,
            }

    def save(self) -> None:
        """Write the state atomically; one writer at a time (autosave and shutdown)."""
        if self.data_file is None:
            return
        with self.save_lock:
            self.dirty = False
            try:
                text = json.dumps(self.snapshot())
                self.data_file.parent.mkdir(parents=True, exist_ok=True)
                temporary = self.data_file.with_suffix(".tmp")
                temporary.write_text(text)
                os.replace(temporary, self.data_file)  # a crash never leaves half a file
            except BaseException:
                self.dirty = True  # try again at the next save
                raise

    def load(self, data_file: Path) -> None:
        state = json.loads(data_file.read_text())
        with self.lock:
            self.reset()
            for kind in KINDS:
                objects = {obj["id"]: obj for obj in state["objects"].get(kind, [])}
                for object_id in state["order"].get(kind, []):
                    if object_id in objects:
                        self.add(kind, objects[object_id])
                    else:  # deleted: keeps its place so it can still be a cursor
                        self.position[kind][object_id] = len(self.order[kind])
                        self.order[kind].append(object_id)
            if "invoice_payment" not in state["order"]:
                self._lift_invoice_payments()
            self.idempotency = {
                key: IdempotentResult(**result) for key, result in state["idempotency"].items()
            }
            self.clock_offset = int(state.get("clock_offset", 0))
            self.dirty = False

    def _lift_invoice_payments(self) -> None:
        """Files saved before InvoicePayments were objects of their own kept them inside
        their invoice (`_payments`, newest first); they become objects, oldest first."""
        lifted: list[tuple[StripeObject, StripeObject]] = []
        for invoice in self.objects["invoice"].values():
            kept = invoice.pop("_payments", None) or {"data": []}
            lifted += [(invoice, payment) for payment in reversed(kept["data"])]
        for invoice, payment in sorted(lifted, key=lambda pair: pair[1]["created"]):
            payment["payment"] = {"charge": None, "payment_record": None, **payment["payment"]}
            self.add("invoice_payment", payment)
            invoice.setdefault("_payment_ids", []).append(payment["id"])
