"""A real sandbox server in a subprocess on a free port, and a client for its control surface.

Ports: a server the tests start gets a socket that is already bound and listening
(`listening_socket`), in this process or inherited by the child, so no other test (or
xdist worker, or test run) can take its port between choosing and binding it. Only what
must bind by itself (the system `make run` starts) gets a bare `free_port`, picked below
the kernel's ephemeral range, where no `bind(0)` or outgoing connection lands.
"""

from __future__ import annotations

import random
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import certifi
import httpx
import stripe

TEST_KEY = "sk_test_sandbox_tests"
FREE_PORTS_FROM = 20000  # up to the start of the ephemeral range (usually 32768)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on now, for a process that binds it itself later.

    Picked at random below the ephemeral range, so no listening socket of the tests
    (`listening_socket` binds port 0) and no client connection can be on it meanwhile.
    """
    end = max(_ephemeral_start(), FREE_PORTS_FROM + 1000)
    for _ in range(200):
        port = random.randrange(FREE_PORTS_FROM, end)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port between {FREE_PORTS_FROM} and {end}")


def listening_socket() -> socket.socket:
    """A socket bound to a port of its own on 127.0.0.1 and listening: hand it to a server.

    With TCP_NODELAY, which the connections it accepts inherit: uvicorn's `--fd` sees the
    socket as a Unix one and would leave Nagle on, holding each answer back ~40 ms.
    """
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@cache
def tls_context() -> ssl.SSLContext:
    """One default TLS context for the tests' HTTP clients: httpx loads the CA bundle again
    for every client it makes without one (20 ms, for each test's clients)."""
    return ssl.create_default_context(cafile=certifi.where())


@contextmanager
def running_sandbox(*extra_args: str) -> Iterator[str]:
    """Start `python -m stripe_sandbox` and yield its base URL once it answers."""
    with listening_socket() as listening:
        port = int(listening.getsockname()[1])
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stripe_sandbox",
                "--fd",
                str(listening.fileno()),
                "--log-level",
                "warning",
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=[listening.fileno()],
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"{base}/_sandbox/health", timeout=1, verify=tls_context())
                health.raise_for_status()
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
        self.http = httpx.Client(base_url=base, timeout=30, verify=tls_context())
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
        """Move the sandbox's clock by `seconds`, back too (the sandbox takes a negative
        move only as a time to set: `{"at": T}`)."""
        if seconds >= 0:
            self.http.post("/_sandbox/clock", json={"seconds": seconds}).raise_for_status()
            return
        now = int(self.http.get("/_sandbox/clock").json()["now"])
        self.http.post("/_sandbox/clock", json={"at": now + seconds}).raise_for_status()

    def hold_clock(self, at: int) -> None:
        """Stand the sandbox's clock still at Unix time `at` until it is moved again."""
        self.http.post("/_sandbox/clock", json={"at": at, "hold": True}).raise_for_status()
