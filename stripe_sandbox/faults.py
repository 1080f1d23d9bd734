"""Injected faults: make the next N calls to a path fail with a status, or answer late.

A fault `before` the call (the default) fails it without touching any state, like a
network or load-balancer failure: the request never reaches Stripe, so nothing is saved
under its `Idempotency-Key` and a retry with the key runs it. A fault `after` the call lets
the change happen and then loses the answer, like a failure between Stripe's write and our
read of it: Stripe saved its own answer under the key, so a retry with the key gets that.
A delay without a status, or with a fault `after`, holds the request as Stripe holds a
slow one: it is running, and its key is in use until it ends.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """`/v1/invoices/*/finalize` matches one id; `/v1/**` matches everything below /v1."""
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    regex = "".join(wildcards.get(part, re.escape(part)) for part in parts)
    return re.compile(regex)


@dataclass
class Fault:
    method: str
    path: str  # a glob: "*" and "?" within one path segment, "**" across segments
    count: int = 1
    status: int | None = None
    delay: float = 0.0
    when: str = "before"
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and _glob(self.path).fullmatch(path) is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {"method", "path", "count", "status", "delay", "when", "message"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "path" not in data:
            raise ValueError("a fault needs a path pattern")
        fault = cls(
            method=str(data.get("method", "*")).upper(),
            path=str(data["path"]),
            count=int(data.get("count", 1)),
            status=int(data["status"]) if data.get("status") is not None else None,
            delay=float(data.get("delay", 0.0)),
            when=str(data.get("when", "before")),
            message=data.get("message"),
        )
        if fault.status is None and fault.delay <= 0:
            raise ValueError("a fault needs a status, a delay, or both")
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError("a fault's status must be between 400 and 599")
        if fault.when not in ("before", "after"):
            raise ValueError("when is 'before' or 'after'")
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        return fault


class FaultTable:
    """The armed faults; each match uses up one of its count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(fault).copy() for fault in self._faults]
