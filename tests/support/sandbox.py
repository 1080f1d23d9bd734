"""A real sandbox server in a subprocess on a free port, and a client for its control surface."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import stripe

TEST_KEY = "sk_test_sandbox_tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_sandbox(*extra_args: str) -> Iterator[str]:
    """Start `python -m stripe_sandbox` and yield its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/_sandbox/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"sandbox did not start: {stderr}") from None
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class SandboxControl:
    """The sandbox's `/_sandbox` test-control endpoints, plus an SDK client pointed at it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)
        self.client = self.stripe_client()

    def stripe_client(self, key: str = TEST_KEY, **options: Any) -> stripe.StripeClient:
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(key, base_addresses={"api": self.base}, **options)

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def fault(self, path: str, *, method: str = "*", **fields: Any) -> None:
        response = self.http.post(
            "/_sandbox/faults", json={"path": path, "method": method, **fields}
        )
        response.raise_for_status()

    def chaos(self, **settings: Any) -> None:
        self.http.post("/_sandbox/chaos", json=settings).raise_for_status()

    def drain(self, timeout: float = 10) -> int:
        response = self.http.post("/_sandbox/webhooks/drain", json={"timeout": timeout})
        return int(response.json()["pending"])

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sandbox/deliveries").json()["attempts"])

    def request_counts(self) -> dict[str, int]:
        """API calls per route ("GET /v1/invoices") since the last reset."""
        return {
            key: int(value) for key, value in self.http.get("/_sandbox/requests").json().items()
        }

    def advance_clock(self, seconds: int) -> None:
        self.http.post("/_sandbox/clock", json={"seconds": seconds}).raise_for_status()
