"""The webhook service on a free port, in this process (a thread) or as its own process.

`ServiceProcess` is the process that can also be killed: uvicorn (and its workers, with
`workers` > 1) in a process group of its own on a listening socket this process keeps, so
a SIGKILL takes the whole service down at once, as a crash of its machine would, and the
service started again serves the same port. Deliveries made meanwhile wait in the
socket's queue or time out; none is refused by a port that nobody holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import uvicorn

from core.context import AppContext
from tests.support.sandbox import listening_socket, tls_context
from webhook_service.app import create_app


def _wait_healthy(base: str, alive: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
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
        # log_config=None: uvicorn leaves logging as the app set it (core.observability.logs),
        # so its lines, tracebacks included, reach the test's log capture.
        uvicorn.Config(
            create_app(context),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,
        )
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


def _group_alive(group: int) -> bool:
    """Whether any process of the group still runs (a zombie holds no socket: it is over)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            return True
    return False


class ServiceProcess:
    """`uvicorn webhook_service.app:app [--workers N]` on a socket held here: started,
    killed with SIGKILL and started again on the same port, then stopped.

    The environment is the caller's (DATABASE_URL, STRIPE_WEBHOOK_SECRET, ...) over this
    process's own. With several workers each start gets an empty PROMETHEUS_MULTIPROC_DIR,
    as docs/operations.md asks. Output goes to `log` (appended to across restarts) if given.
    """

    def __init__(
        self, environment: dict[str, str], *, workers: int = 1, log: Path | None = None
    ) -> None:
        self.environment = environment
        self.workers = workers
        self.log = log
        self.listening: socket.socket = listening_socket()
        self.port = int(self.listening.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._metrics = tempfile.mkdtemp(prefix="service-metrics-") if workers > 1 else None

    def start(self, timeout: float = 30) -> None:
        """Start the service and return once it answers /healthz."""
        if self.process is not None:
            raise RuntimeError("the service is already running")
        environment = {**os.environ, **self.environment}
        if self._metrics is not None:
            shutil.rmtree(self._metrics, ignore_errors=True)
            os.makedirs(self._metrics)
            environment["PROMETHEUS_MULTIPROC_DIR"] = self._metrics
        output: IO[bytes] | None = self.log.open("ab") if self.log is not None else None
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "webhook_service.app:app",
                    "--fd",
                    str(self.listening.fileno()),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=environment,
                pass_fds=[self.listening.fileno()],
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,  # its own process group: the workers die with it
            )
        finally:
            if output is not None:
                output.close()
        self.process = process
        _wait_healthy(self.base, lambda: process.poll() is None, timeout)

    def kill(self, timeout: float = 20) -> None:
        """SIGKILL every process of the service at once, and return when none runs."""
        process = self._running()
        with contextlib.suppress(ProcessLookupError):  # it may have died on its own
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        if not self._group_gone(process.pid, timeout):
            raise RuntimeError("the killed service's workers are still running")
        self.process = None

    @staticmethod
    def _group_gone(group: int, timeout: float) -> bool:
        """Whether, within `timeout`, no worker of the group runs any more (one still
        running would hold the socket)."""
        deadline = time.monotonic() + timeout
        while _group_alive(group):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 10) -> None:
        """End the service as a deployment does (SIGTERM), or kill it if it will not go."""
        process = self.process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        if not self._group_gone(process.pid, timeout):  # a worker outlived its parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            self._group_gone(process.pid, timeout)
        self.process = None

    def close(self) -> None:
        self.stop()
        self.listening.close()
        if self._metrics is not None:
            shutil.rmtree(self._metrics, ignore_errors=True)

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("the service is not running")
        return self.process


def service_environment(database_url: str, webhook_secret: str, api_base: str) -> dict[str, str]:
    """What a service process needs besides this process's environment."""
    return {
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "STRIPE_API_BASE": api_base,
        "STRIPE_SECRET_KEY": "sk_test_service_process",
    }


@contextmanager
def service_process(
    database_url: str, webhook_secret: str, api_base: str, *, workers: int = 1
) -> Iterator[str]:
    """`uvicorn webhook_service.app:app` as a separate process on a port of its own."""
    service = ServiceProcess(
        service_environment(database_url, webhook_secret, api_base), workers=workers
    )
    try:
        service.start()
        yield service.base
    finally:
        service.close()
