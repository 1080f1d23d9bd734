"""The whole system as `make run` starts it, isolated on free ports and a temporary data
folder, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work on these machines, so the tests always
launch /usr/bin/chromium. Without it the browser test is skipped, except in CI (CI set),
where it fails: the browser test must never be skipped silently there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.support.sandbox import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = HERE / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 120.0  # migrations, seeding and three servers on a 2-core machine
# Streamlit renders asynchronously and the machine has 2 cores: every wait in these tests
# is for a state, for up to this long.
expect.set_options(timeout=30_000)
READY_LINE = "Everything is up"


@dataclass(frozen=True)
class LiveSystem:
    dashboard: str
    sandbox: str
    service: str
    data_dir: Path
    log: Path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is of the `browser` tier. The tests on the live system share one run
    of it (session-scoped), so they go to one xdist worker together."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
        if "live_system" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("live_system"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the browser test leaves its screenshots (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(Playwright's own browser download does not work here)"
        )
        if "CI" in os.environ:
            pytest.fail(f"{reason}; CI is set, so the browser test must not be skipped")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _tail(log: Path, lines: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets run_system stop its children; then kill whatever is left of the group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    try:  # children that outlived run_system (it started them in its own process group)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def live_system(
    chromium: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSystem]:
    """`python scripts/run_system.py`, as `make run` starts it, on its own ports and data:
    one run for every browser test (each works on jobs of its own, or puts back what it
    changes)."""
    data_dir = tmp_path_factory.mktemp("system")
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    sandbox_port, service_port, dashboard_port = sorted(ports)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    environment.update(
        DATABASE_URL=f"sqlite:///{data_dir / 'app.db'}",
        DATA_DIR=str(data_dir),
        SANDBOX_PORT=str(sandbox_port),
        SERVICE_PORT=str(service_port),
        DASHBOARD_PORT=str(dashboard_port),
        PYTHONUNBUFFERED="1",
        PASSWORD_HASH_PROFILE="fast",  # the demo seed's accounts, and signing in
    )
    # One log per live system: xdist may start one on each worker, and the start waits for
    # the ready line in its own log, never in another system's.
    log = artifacts / f"system-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    system = LiveSystem(
        dashboard=f"http://127.0.0.1:{dashboard_port}",
        sandbox=f"http://127.0.0.1:{sandbox_port}",
        service=f"http://127.0.0.1:{service_port}",
        data_dir=data_dir,
        log=log,
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "scripts/run_system.py"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so nothing can outlive the test
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(
                    f"run_system.py exited with {process.returncode} before "
                    f"{READY_LINE!r}:\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {READY_LINE!r} within {START_TIMEOUT:.0f} s:\n{_tail(log)}")
            time.sleep(0.25)
        for url in (f"{system.dashboard}/_stcore/health", f"{system.sandbox}/_sandbox/health"):
            assert _answers(url), f"{url} does not answer although run_system said it is up"
        yield system
    finally:
        _stop(process)
