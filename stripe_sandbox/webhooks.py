"""Webhook delivery as Stripe does it: signed, at least once, retried with backoff.

Workers pull due deliveries from a time-ordered heap. A non-2xx answer, a timeout or a
refused connection schedules the next attempt from the retry schedule; once every attempt
has failed the event stays pending (`delivery_success=false` in the events list). Chaos
can duplicate a delivery or hold it back so that later events overtake it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import heapq
import hmac
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from stripe_sandbox.store import Store, StripeObject

log = logging.getLogger("stripe_sandbox.webhooks")


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header: HMAC-SHA256 of "<t>.<payload>" keyed by the secret."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Chaos:
    """Probabilities of a duplicate delivery and of a delayed (so reordered) one."""

    duplicate: float = 0.0
    reorder: float = 0.0
    max_delay: float = 0.5
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> Chaos:
        """`duplicate=0.3,reorder=0.2[,max_delay=0.5][,seed=7]`."""
        settings: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"chaos setting {part!r} needs name=value")
            settings[name] = value
        return cls.from_dict(settings)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> Chaos:
        chaos = cls()
        for name, value in settings.items():
            if name not in ("duplicate", "reorder", "max_delay", "seed"):
                raise ValueError(f"unknown chaos setting {name!r}")
            if name == "seed":
                chaos.seed = None if value is None else int(value)
                continue
            number = float(value)
            if name == "max_delay" and number < 0:
                raise ValueError(f"max_delay cannot be negative, not {value}")
            if name != "max_delay" and not 0 <= number <= 1:
                raise ValueError(f"{name} is a probability between 0 and 1, not {value}")
            setattr(chaos, name, number)
        return chaos


@dataclass(order=True)
class Delivery:
    due: float
    sequence: int
    event_id: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    url: str = field(compare=False)
    secret: str = field(compare=False)
    payload: str = field(compare=False)
    attempt: int = field(default=0, compare=False)
    generation: int = field(default=0, compare=False)


class WebhookDispatcher:
    """Delivers queued events on worker threads; `pending()` says how much is left."""

    def __init__(
        self,
        store: Store,
        *,
        schedule: tuple[float, ...],
        timeout: float,
        chaos: Chaos,
        workers: int = 4,
    ) -> None:
        self.store = store
        self.schedule = schedule
        self.chaos = chaos
        self.random = random.Random(chaos.seed)
        self.client = httpx.Client(timeout=timeout)
        self.heap: list[Delivery] = []
        self.condition = threading.Condition()
        self.in_flight = 0
        self.sequence = 0
        self.generation = 0
        self.settled: set[tuple[str, str]] = set()
        self.attempts: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        self.running = False
        self.workers = [
            threading.Thread(target=self._work, name=f"webhook-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        self.running = True
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        with self.condition:
            self.running = False
            self.condition.notify_all()
        for worker in self.workers:
            if worker.is_alive():
                worker.join(timeout=2)
        self.client.close()

    def clear(self) -> None:
        with self.condition:
            self.heap.clear()
            self.settled.clear()
            self.attempts.clear()
            self.generation += 1  # deliveries in flight now are not retried

    def set_chaos(self, chaos: Chaos) -> None:
        with self.condition:
            self.chaos = chaos
            self.random = random.Random(chaos.seed)

    def pending(self) -> int:
        with self.condition:
            return len(self.heap) + self.in_flight

    def enqueue(self, event: StripeObject, endpoints: list[StripeObject]) -> None:
        payload = json.dumps(event, indent=2)
        now = time.monotonic()
        with self.condition:
            for endpoint in endpoints:
                delay = 0.0
                if self.random.random() < self.chaos.reorder:
                    delay = self.random.uniform(0, self.chaos.max_delay)
                copies = 2 if self.random.random() < self.chaos.duplicate else 1
                for copy_number in range(copies):
                    self._push(
                        now + delay + copy_number * self.random.uniform(0, self.chaos.max_delay),
                        event["id"],
                        endpoint,
                        payload,
                    )
            self.condition.notify_all()

    def _push(
        self, due: float, event_id: str, endpoint: StripeObject, payload: str, attempt: int = 0
    ) -> None:
        self.sequence += 1
        heapq.heappush(
            self.heap,
            Delivery(
                due,
                self.sequence,
                event_id,
                endpoint["id"],
                endpoint["url"],
                endpoint["_secret"],
                payload,
                attempt,
                self.generation,
            ),
        )

    def _next_due(self) -> Delivery | None:
        with self.condition:
            while self.running:
                if self.heap:
                    wait = self.heap[0].due - time.monotonic()
                    if wait <= 0:
                        self.in_flight += 1
                        return heapq.heappop(self.heap)
                    self.condition.wait(timeout=wait)
                else:
                    self.condition.wait()
            return None

    def _work(self) -> None:
        while (delivery := self._next_due()) is not None:
            try:
                self._attempt(delivery)
            except Exception:  # a worker must survive anything one delivery does
                log.exception("webhook.delivery.crashed")
            finally:
                with self.condition:
                    self.in_flight -= 1
                    self.condition.notify_all()

    def _attempt(self, delivery: Delivery) -> None:
        if self.store.get("webhook_endpoint", delivery.endpoint_id) is None:
            # The endpoint was deleted: as in Stripe, its pending deliveries are dropped.
            self._settle(delivery.event_id, delivery.endpoint_id)
            return
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(delivery.payload, delivery.secret, timestamp),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        status: int | None = None
        error: str | None = None
        try:
            response = self.client.post(delivery.url, content=delivery.payload, headers=headers)
            status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"
        succeeded = status is not None and 200 <= status < 300
        with self.condition:
            if delivery.generation != self.generation:
                return
            self.attempts.append(
                {
                    "event": delivery.event_id,
                    "endpoint": delivery.endpoint_id,
                    "attempt": delivery.attempt + 1,
                    "status": status,
                    "error": error,
                    "at": time.time(),
                }
            )
            if not succeeded and delivery.attempt < len(self.schedule):
                self.sequence += 1
                retry = dataclasses.replace(
                    delivery,
                    due=time.monotonic() + self.schedule[delivery.attempt],
                    sequence=self.sequence,
                    attempt=delivery.attempt + 1,
                )
                heapq.heappush(self.heap, retry)
                self.condition.notify_all()
        log.info(
            "webhook.delivery event=%s endpoint=%s attempt=%d status=%s",
            delivery.event_id,
            delivery.endpoint_id,
            delivery.attempt + 1,
            status if status is not None else error,
        )
        if succeeded:
            self._settle(delivery.event_id, delivery.endpoint_id)

    def _settle(self, event_id: str, endpoint_id: str) -> None:
        """One endpoint fewer is waiting for this event (counted once per endpoint)."""
        with self.condition:
            if (event_id, endpoint_id) in self.settled:
                return
            self.settled.add((event_id, endpoint_id))
        with self.store.lock:
            event = self.store.get("event", event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1
                self.store.touch()
