"""The webhook service on a free port, in this process (a thread) or as its own process.

`ServiceProcess` is the process that can also be killed: uvicorn (and its workers, with
`workers` > 1) in a process group of its own on a listening socket this process keeps, so
a SIGKILL takes the whole service down at once, as a crash of its machine would, and the
service started again serves the same port. Deliveries made meanwhile wait in the
socket's queue or time out; none is refused by a port that nobody holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import uvicorn
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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


class _Mounts:
    """The ASGI app of the one in-thread server: each test's app under a path of its own
    (/t1, /t2, ...), given as the request's root path, as Starlette's Mount does.

    One server for the whole session spares every test uvicorn's start and its shutdown
    (a tenth of a second of ticks and a fixed tenth of a second of waiting each). A
    request for a prefix whose test is over (a late webhook retry from the sandbox) gets
    404, as a port that nobody listens on any more would refuse it.
    """

    def __init__(self) -> None:
        self.apps: dict[str, ASGIApp] = {}
        self.busy: dict[str, int] = {}
        self.changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # each mounted app has its own (service_in_thread)
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        prefix = "/" + scope["path"].split("/", 2)[1]
        with self.changed:
            app = self.apps.get(prefix)
            if app is not None:
                self.busy[prefix] += 1
        if app is None:
            await PlainTextResponse("no such test service", status_code=404)(scope, receive, send)
            return
        try:
            await app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)
        finally:
            with self.changed:
                self.busy[prefix] -= 1
                self.changed.notify_all()

    def mount(self, prefix: str, app: ASGIApp) -> None:
        with self.changed:
            self.apps[prefix] = app
            self.busy[prefix] = 0

    def unmount(self, prefix: str, timeout: float = 10) -> None:
        """Take the app away and wait for the requests it is still answering; if one is
        still running after `timeout`, the test that started it fails, not the next one."""
        with self.changed:
            del self.apps[prefix]
            if not self.changed.wait_for(lambda: self.busy[prefix] == 0, timeout=timeout):
                raise RuntimeError(f"a request to {prefix} still runs after {timeout:.0f} s")
            del self.busy[prefix]


@dataclass
class _SharedServer:
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    mounts: _Mounts
    port: int
    count: itertools.count[int]


_shared: _SharedServer | None = None
_shared_lock = threading.Lock()


def _shared_server() -> _SharedServer:
    """This process's in-thread server, started on first use and kept until the end."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared.thread.is_alive() and not _shared.server.should_exit:
            return _shared
        listening = listening_socket()
        mounts = _Mounts()
        # log_config=None: uvicorn leaves logging as the app set it (core.observability.logs),
        # so its lines, tracebacks included, reach the test's log capture.
        # Keep-alive past the sandbox's httpx pool expiry (5 s): the client, which reuses
        # this one host and port across tests, lets an idle connection go first, so no
        # delivery meets a socket the server has just closed.
        config = uvicorn.Config(mounts, log_level="warning", log_config=None, timeout_keep_alive=30)
        server = uvicorn.Server(config)
        loops: list[asyncio.AbstractEventLoop] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            loops.append(loop)
            loop.run_until_complete(server.serve(sockets=[listening]))

        thread = threading.Thread(target=run, name="test-service", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-thread webhook service did not start")
            time.sleep(0.005)
        port = int(listening.getsockname()[1])
        _shared = _SharedServer(server, thread, loops[0], mounts, port, itertools.count(1))
        return _shared


@contextmanager
def service_in_thread(context: AppContext) -> Iterator[str]:
    """Serve the app for `context` (its lifespan started and, at the end, ended) at a base
    URL of its own on this process's in-thread server; yields that URL."""
    shared = _shared_server()
    app = create_app(context)
    prefix = f"/t{next(shared.count)}"
    lifespan = AsyncExitStack()
    asyncio.run_coroutine_threadsafe(
        lifespan.enter_async_context(app.router.lifespan_context(app)), shared.loop
    ).result(timeout=20)
    shared.mounts.mount(prefix, app)
    try:
        yield f"http://127.0.0.1:{shared.port}{prefix}"
    finally:
        shared.mounts.unmount(prefix)
        asyncio.run_coroutine_threadsafe(lifespan.aclose(), shared.loop).result(timeout=20)


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
