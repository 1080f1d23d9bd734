"""The webhook service on a free port, in this process (a thread) or as its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from core.context import AppContext
from tests.support.sandbox import listening_socket, tls_context
from webhook_service.app import create_app


def _wait_healthy(base: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1, verify=tls_context()).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not alive():
            raise RuntimeError("webhook service exited during start-up")
        time.sleep(0.05)
    raise RuntimeError(f"webhook service at {base} did not start")


@contextmanager
def service_in_thread(context: AppContext) -> Iterator[str]:
    """Serve the app for `context` on a port of its own; yields the base URL."""
    listening = listening_socket()
    port = int(listening.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, thread.is_alive)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()


@contextmanager
def service_process(database_url: str, webhook_secret: str, api_base: str) -> Iterator[str]:
    """`uvicorn webhook_service.app:app` as a separate process on a port of its own."""
    listening = listening_socket()
    port = int(listening.getsockname()[1])
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "STRIPE_API_BASE": api_base,
        "STRIPE_SECRET_KEY": "sk_test_service_process",
    }
    with listening:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "webhook_service.app:app",
                "--fd",
                str(listening.fileno()),
                "--log-level",
                "warning",
            ],
            env=environment,
            pass_fds=[listening.fileno()],
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, lambda: process.poll() is None)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
