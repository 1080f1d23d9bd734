"""Benchmark: create N invoices through the official SDK, then list them back 100 a page.

Runs the same client work against the sandbox and against a canned server on the same
stack (bench/canned_stripe.py), alternating rounds side by side, and reports the sandbox's
time and memory as ratios over that baseline.

    .venv/bin/python -m bench.sandbox_invoices [--count 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import stripe

from tests.support.sandbox import TEST_KEY, free_port, running_sandbox


@contextmanager
def running_canned() -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.canned_stripe", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/v1/customers/x", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def server_pid(port: int) -> int:
    """The pid listening on a port (the sandbox runs as a child of the test helper)."""
    out = subprocess.run(
        ["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        if f"--port {port}" in line and "stripe_sandbox" in line:
            return int(line.split()[0])
    raise RuntimeError("sandbox process not found")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_work(base: str, count: int) -> tuple[float, float, int]:
    """Create `count` invoices, then page through them; returns (create s, list s, listed)."""
    client = stripe.StripeClient(TEST_KEY, base_addresses={"api": base}, max_network_retries=0)
    customer = client.v1.customers.create(params={"name": "Bench", "metadata": {"user_id": "1"}})
    started = time.perf_counter()
    for number in range(count):
        client.v1.invoices.create(
            params={
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 7,
                "auto_advance": False,
                "metadata": {"job_id": str(number), "payment_id": str(number)},
            }
        )
    created = time.perf_counter() - started
    started = time.perf_counter()
    listed, cursor = 0, None
    while listed < count:
        params: dict[str, object] = {"limit": 100}
        if cursor:
            params["starting_after"] = cursor
        page = client.v1.invoices.list(params=params)  # type: ignore[arg-type]
        listed += len(page.data)
        cursor = page.data[-1].id
        if not page.has_more:
            break
    return created, time.perf_counter() - started, listed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"sandbox": [], "canned": []}
    memory: dict[str, float] = {}
    for _ in range(args.rounds):
        with running_canned() as (base, pid):
            create_s, list_s, _listed = run_work(base, args.count)
            results["canned"].append((create_s, list_s))
            memory["canned"] = rss_mib(pid)
        with running_sandbox() as base:
            pid = server_pid(int(base.rsplit(":", 1)[1]))
            memory["sandbox idle"] = rss_mib(pid)
            create_s, list_s, listed = run_work(base, args.count)
            assert listed == args.count, f"listed {listed} of {args.count}"
            results["sandbox"].append((create_s, list_s))
            memory["sandbox"] = rss_mib(pid)
    best = {
        name: (min(r[0] for r in runs), min(r[1] for r in runs)) for name, runs in results.items()
    }
    sandbox_create, sandbox_list = best["sandbox"]
    canned_create, canned_list = best["canned"]
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d}, machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, stripe {stripe.VERSION}"
    )
    print(f"invoices: {args.count}, rounds: {args.rounds} (best of each)")
    print(
        f"create  sandbox {sandbox_create:7.2f} s ({args.count / sandbox_create:6.0f}/s)  "
        f"canned {canned_create:7.2f} s  ratio {sandbox_create / canned_create:.2f}"
    )
    print(
        f"list    sandbox {sandbox_list:7.2f} s ({args.count / 100 / sandbox_list:6.0f} pages/s)"
        f"  canned {canned_list:7.2f} s  ratio {sandbox_list / canned_list:.2f}"
    )
    print(
        f"memory  sandbox {memory['sandbox']:.0f} MiB RSS after {args.count} invoices "
        f"({memory['sandbox idle']:.0f} MiB idle), canned {memory['canned']:.0f} MiB, "
        f"ratio {memory['sandbox'] / memory['canned']:.2f}"
    )


if __name__ == "__main__":
    main()
