"""Benchmark: webhook intake over HTTP against the signature-only floor, side by side.

The real webhook service (`uvicorn webhook_service.app:app`, one worker, as
tests/support/service.py starts it) runs on a generated database: completed jobs with
pending payments, their customers' Stripe customer records and their open invoice copies,
written directly. Beside it, `bench.signature_floor` on the same uvicorn options: a FastAPI
app that only verifies the Stripe signature and answers 200.

Each round, in alternating order, drives both with 16 concurrent keep-alive connections:

- first deliveries: one signed `invoice.paid` per job (every answer must be `applied`);
- duplicates: the same events again, signed again as Stripe signs a retry (`duplicate`);
- latency: other jobs' `invoice.paid` offered open-loop at `--rate` events/s (each send is
  due at its own moment, whether or not earlier ones were answered; latency counts from
  that moment, so queueing shows), percentiles of the answers.

The service gets a fresh copy of the database each round. Figures: events/s, their ratio
to the floor's in the same round, min and median over the rounds; latency percentiles.

    .venv/bin/python -m bench.webhooks --database sqlite|postgresql [--full]
        [--events N] [--rounds R] [--http auto|h11|httptools] [--loop auto|asyncio|uvloop]
        [--workers N] [--baseline-tree DIR]

`--baseline-tree DIR` adds a third server each round: the webhook service from another
checkout (e.g. `git worktree add /tmp/before <commit>`) on its own copy of the database.
Only 127.0.0.1 is used; every loop is bounded by its count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.billing.invoice_status import PROGRESS_RANK
from core.billing.stripe_gateway import API_VERSION
from core.db.migrate import upgrade
from core.db.models import (
    Customer,
    Job,
    Payment,
    Service,
    ServiceProvider,
    StripeCustomer,
    StripeInvoice,
)
from stripe_sandbox.webhooks import sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_bench_webhooks"
WEBHOOK = "/payments/stripe/webhook"
CONNECTIONS = 16
PRICE = 15000
CUSTOMERS, PROVIDERS, SERVICES = 200, 50, 10
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_TEMPLATE, POSTGRES_RUN = "bench_webhooks", "bench_webhooks_run"
PHASE_DEADLINE_S = 600.0  # no phase runs longer than this, whatever the sizes


# The database: N + L completed jobs awaiting payment, invoiced and sent


@dataclass(frozen=True)
class Billed:
    job_id: int
    payment_id: int
    customer_id: int


def stripe_customer_of(customer_id: int) -> str:
    return f"cus_bench{customer_id:05d}"


def invoice_of(job_id: int) -> str:
    return f"in_bench{job_id:07d}"


def populate(url: str, jobs: int) -> list[Billed]:
    """Migrate `url` and fill it; returns the billed jobs."""
    upgrade(url)
    engine = create_engine(url, poolclass=NullPool)
    now = datetime.now(UTC)
    created = now - timedelta(days=1)
    billed = [Billed(n, n, 1 + (n - 1) % CUSTOMERS) for n in range(1, jobs + 1)]
    with engine.begin() as connection:
        connection.execute(
            insert(Customer),
            [
                {"id": c, "name": f"Customer {c}", "email": f"c{c}@example.com", "created_at": now}
                for c in range(1, CUSTOMERS + 1)
            ],
        )
        connection.execute(
            insert(ServiceProvider),
            [
                {
                    "id": p,
                    "name": f"Provider {p}",
                    "email": f"p{p}@example.com",
                    "earnings": 0,
                    "total_jobs": 0,
                    "created_at": now,
                }
                for p in range(1, PROVIDERS + 1)
            ],
        )
        connection.execute(
            insert(Service),
            [
                {"id": s, "name": f"Service {s}", "category": "Home Repair", "base_price": PRICE}
                for s in range(1, SERVICES + 1)
            ],
        )
        # As invoicing records it: each customer's Stripe customer.
        connection.execute(
            insert(StripeCustomer),
            [
                {"customer_id": c, "stripe_customer_id": stripe_customer_of(c), "created_at": now}
                for c in range(1, CUSTOMERS + 1)
            ],
        )
        for start in range(0, jobs, 5000):
            chunk = billed[start : start + 5000]
            connection.execute(
                insert(Job),
                [
                    {
                        "id": b.job_id,
                        "service_id": 1 + b.job_id % SERVICES,
                        "customer_id": b.customer_id,
                        "provider_id": 1 + b.job_id % PROVIDERS,
                        "price": PRICE,
                        "status": "completed",
                        "description": "Bench job",
                        "created_at": created,
                        "completed_at": created,
                    }
                    for b in chunk
                ],
            )
            connection.execute(
                insert(Payment),
                [
                    {
                        "id": b.payment_id,
                        "job_id": b.job_id,
                        "amount": PRICE,
                        "status": "pending",
                        "created_at": created,
                    }
                    for b in chunk
                ],
            )
            connection.execute(
                insert(StripeInvoice),
                [
                    {
                        "invoice_id": invoice_of(b.job_id),
                        "job_id": b.job_id,
                        "payment_id": b.payment_id,
                        "customer": stripe_customer_of(b.customer_id),
                        "status": "open",
                        "status_rank": PROGRESS_RANK["open"],
                        "number": f"BENCH-{b.job_id:07d}",
                        "currency": "usd",
                        "amount_due": PRICE,
                        "amount_paid": 0,
                        "amount_remaining": PRICE,
                        "created": created,
                        "due_date": created + timedelta(days=7),
                        "paid_at": None,
                        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_of(b.job_id)}",
                        "invoice_pdf": f"https://pay.stripe.com/invoice/{invoice_of(b.job_id)}/pdf",
                        "updated_at": created,
                        "is_current": True,
                        "sent_at": created,
                    }
                    for b in chunk
                ],
            )
        if engine.dialect.name == "postgresql":
            for table in ("customers", "service_providers", "services", "jobs", "payments"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) "
                        f"FROM {table}"
                    )
                )
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return billed


class Databases:
    """The template database, and a fresh copy of it for each run."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind, self.directory = kind, directory
        self.copies = 0

    def template_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.directory / 'template.db'}"
        self._admin(f'DROP DATABASE IF EXISTS "{POSTGRES_TEMPLATE}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{POSTGRES_TEMPLATE}"')
        return make_url(POSTGRES_SERVER).set(database=POSTGRES_TEMPLATE).render_as_string(False)

    def fresh(self) -> str:
        """A new copy of the template; the previous copy is dropped."""
        self.copies += 1
        if self.kind == "sqlite":
            target = self.directory / f"run{self.copies}.db"
            shutil.copyfile(self.directory / "template.db", target)
            previous = self.directory / f"run{self.copies - 1}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{previous}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{target}"
        name = f"{POSTGRES_RUN}_{self.copies % 2}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{POSTGRES_TEMPLATE}"')
        return make_url(POSTGRES_SERVER).set(database=name).render_as_string(False)

    def received(self, url: str) -> int:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return int(
                    connection.scalar(text("SELECT count(*) FROM payments WHERE status='received'"))
                    or 0
                )
        finally:
            engine.dispose()

    def drop_all(self) -> None:
        if self.kind == "postgresql":
            for name in (POSTGRES_TEMPLATE, f"{POSTGRES_RUN}_0", f"{POSTGRES_RUN}_1"):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @staticmethod
    def _admin(statement: str) -> None:
        engine = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


def postgres_reachable() -> bool:
    engine = create_engine(POSTGRES_SERVER, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        engine.dispose()


# The events, as Stripe sends and signs them


def paid_event(billed: Billed, sequence: int) -> str:
    now = int(time.time())
    invoice = {
        "id": invoice_of(billed.job_id),
        "object": "invoice",
        "created": now - 86400,
        "number": f"BENCH-{billed.job_id:07d}",
        "status": "paid",
        "customer": stripe_customer_of(billed.customer_id),
        "currency": "usd",
        "collection_method": "send_invoice",
        "amount_due": PRICE,
        "amount_paid": PRICE,
        "amount_remaining": 0,
        "metadata": {"job_id": str(billed.job_id), "payment_id": str(billed.payment_id)},
        "status_transitions": {
            "finalized_at": now - 86000,
            "paid_at": now,
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_of(billed.job_id)}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{invoice_of(billed.job_id)}/pdf",
        "due_date": now + 6 * 86400,
        "lines": {"object": "list", "data": [{"id": f"il_{billed.job_id}", "amount": PRICE}]},
    }
    event = {
        "id": f"evt_bench{sequence:08d}",
        "object": "event",
        "api_version": API_VERSION,
        "created": now,
        "data": {"object": invoice},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.paid",
    }
    return json.dumps(event)


def requests_for(payloads: list[str]) -> list[bytes]:
    """Each payload as an HTTP/1.1 request, signed now (a retry is signed anew, too)."""
    stamp = int(time.time())
    out = []
    for payload in payloads:
        body = payload.encode()
        head = (
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Stripe-Signature: {sign(payload, SECRET, stamp)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


# Servers


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def serving(
    name: str,
    app: str,
    environment: dict[str, str],
    options: list[str],
    log: Path,
    tree: Path = ROOT,
    workers: int = 1,
) -> Iterator[Server]:
    """`uvicorn APP` with `workers` processes on a socket of its own, until the context ends."""
    listening = listening_socket()
    port = int(listening.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(tree), **environment}
    python = tree / ".venv" / "bin" / "python"
    with listening, log.open("ab") as errors:
        process = subprocess.Popen(
            [
                str(python if python.exists() else sys.executable),
                "-m",
                "uvicorn",
                app,
                "--fd",
                str(listening.fileno()),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
                *options,
            ],
            cwd=tree,
            env=env,
            pass_fds=[listening.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log}")
            time.sleep(0.05)
        yield Server(name, port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def service_environment(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called by intake
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "CURRENCY": "usd",
    }


# The client: 16 keep-alive HTTP/1.1 connections, as little work per request as it can


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Result:
    events_per_s: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


def _outcome(status: int, body: bytes) -> str:
    if status != 200:
        return f"http {status}"
    try:
        answer = json.loads(body)
    except ValueError:
        return "unreadable"
    return str(answer.get("outcome", "ok"))


async def _closed_loop(port: int, requests: list[bytes]) -> Result:
    connections = [await Connection.open(port) for _ in range(CONNECTIONS)]
    result = Result()
    queue = iter(requests)
    deadline = time.monotonic() + PHASE_DEADLINE_S

    async def worker(connection: Connection) -> None:
        for request in queue:
            if time.monotonic() > deadline:
                raise RuntimeError("phase deadline passed")
            status, body = await connection.post(request)
            result.outcomes[_outcome(status, body)] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        elapsed = time.perf_counter() - started
        for connection in connections:
            connection.close()
    result.events_per_s = len(requests) / elapsed
    return result


async def _open_loop(port: int, requests: list[bytes], rate: float) -> Result:
    """Each request is due at start + i/rate; it waits for a free connection if none is."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    connections = [await Connection.open(port) for _ in range(CONNECTIONS)]
    for connection in connections:
        free.put_nowait(connection)
    result = Result()
    clock = time.perf_counter  # uvloop's loop.time() counts whole milliseconds
    start = clock() + 0.05

    async def send(index: int, request: bytes) -> None:
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - clock()))
        connection = await free.get()
        try:
            status, body = await connection.post(request)
        finally:
            free.put_nowait(connection)
        result.latencies_ms.append((clock() - due) * 1000)
        result.outcomes[_outcome(status, body)] += 1

    try:
        await asyncio.wait_for(
            asyncio.gather(*(send(i, r) for i, r in enumerate(requests))),
            timeout=len(requests) / rate + PHASE_DEADLINE_S,
        )
    finally:
        for connection in connections:
            connection.close()
    result.events_per_s = len(requests) / (clock() - start)
    return result


def closed_loop(port: int, payloads: list[str]) -> Result:
    return run(_closed_loop(port, requests_for(payloads)))


def open_loop(port: int, payloads: list[str], rate: float) -> Result:
    return run(_open_loop(port, requests_for(payloads), rate))


def run(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# One round


@dataclass
class Figures:
    first: list[float] = field(default_factory=list)
    duplicate: list[float] = field(default_factory=list)
    latency: list[list[float]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


def check(result: Result, expected: str, count: int, label: str, figures: Figures) -> str:
    """Every answer should be `expected`; any other is counted and shown, not hidden."""
    others = {k: v for k, v in result.outcomes.items() if k != expected}
    if result.outcomes[expected] + sum(others.values()) != count:
        raise SystemExit(f"{label}: {count} sent, {sum(result.outcomes.values())} answered")
    for outcome, number in others.items():
        figures.outcomes[f"{label}: {outcome}"] += number
    return "".join(f" [{label}: {n} {o}]" for o, n in sorted(others.items()))


def measure_service(
    name: str,
    databases: Databases,
    events: list[str],
    paced: list[str],
    args: argparse.Namespace,
    log: Path,
    tree: Path,
    figures: Figures,
) -> str:
    url = databases.fresh()
    options = ["--http", args.http, "--loop", args.loop]
    with serving(
        name,
        "webhook_service.app:app",
        service_environment(url),
        options,
        log,
        tree,
        args.workers,
    ) as s:
        closed_loop(s.port, events[: min(len(events), 50)])  # warm-up: first requests, caches
        first = closed_loop(s.port, events[50:])
        wrong = check(first, "applied", len(events) - 50, "first", figures)
        duplicate = closed_loop(s.port, events)
        wrong += check(duplicate, "duplicate", len(events), "duplicates", figures)
        latency = open_loop(s.port, paced, args.rate)
        wrong += check(latency, "applied", len(paced), "paced", figures)
    received = databases.received(url)
    if received != len(events) + len(paced):
        wrong += f" [{received} payments received of {len(events) + len(paced)}]"
        figures.outcomes["payments not received"] += len(events) + len(paced) - received
    figures.first.append(first.events_per_s)
    figures.duplicate.append(duplicate.events_per_s)
    figures.latency.append(latency.latencies_ms)
    return (
        f"first {first.events_per_s:7.1f}/s  duplicate {duplicate.events_per_s:7.1f}/s  "
        f"at {args.rate:.0f}/s p50 {percentile(latency.latencies_ms, 0.5):6.1f} ms "
        f"p99 {percentile(latency.latencies_ms, 0.99):6.1f} ms{wrong}"
    )


def measure_floor(
    port: int, events: list[str], paced: list[str], rate: float, figures: Figures
) -> str:
    closed_loop(port, events[:50])
    first = closed_loop(port, events[50:])
    check(first, "ok", len(events) - 50, "floor", figures)
    again = closed_loop(port, events)
    latency = open_loop(port, paced, rate)
    figures.first.append(first.events_per_s)
    figures.duplicate.append(again.events_per_s)
    figures.latency.append(latency.latencies_ms)
    return (
        f"first {first.events_per_s:7.1f}/s  again     {again.events_per_s:7.1f}/s  "
        f"at {rate:.0f}/s p50 {percentile(latency.latencies_ms, 0.5):6.1f} ms "
        f"p99 {percentile(latency.latencies_ms, 0.99):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--full", action="store_true", help="larger sizes: 10,000 events, 5 rounds")
    parser.add_argument("--events", type=int, help="first deliveries per round (default 2,000)")
    parser.add_argument("--latency-events", type=int, help="paced events per round (default 1,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--rate", type=float, default=100.0, help="offered events/s for latency")
    parser.add_argument("--http", default="auto", help="uvicorn --http for both servers")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop for both servers")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the service")
    parser.add_argument("--baseline-tree", type=Path, help="also run the service of this checkout")
    args = parser.parse_args()
    events_count = args.events or (10_000 if args.full else 2_000)
    paced_count = args.latency_events or (3_000 if args.full else 1_000)
    rounds = args.rounds or (5 if args.full else 3)
    if events_count <= 50 or rounds < 1:
        raise SystemExit("--events must be above 50 and --rounds at least 1")

    if args.database == "postgresql" and not postgres_reachable():
        print(f"bench.webhooks: skipped, no PostgreSQL answers at {POSTGRES_SERVER}")
        return
    configs = ["floor", "service"] + (["baseline"] if args.baseline_tree else [])
    figures = {config: Figures() for config in configs}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as temporary:
        directory = Path(temporary)
        log = directory / "servers.log"
        databases = Databases(args.database, directory)
        started = time.monotonic()
        jobs = populate(databases.template_url(), events_count + paced_count)
        print(
            f"database: {args.database}, {len(jobs)} billed jobs "
            f"({time.monotonic() - started:.1f} s to build)"
        )
        options = ["--http", args.http, "--loop", args.loop]
        try:
            with serving(
                "floor",
                "bench.signature_floor:app",
                {"STRIPE_WEBHOOK_SECRET": SECRET},
                options,
                log,
            ) as floor:
                for number in range(rounds):
                    sequence = number * len(jobs)
                    events = [
                        paid_event(b, sequence + i) for i, b in enumerate(jobs[:events_count])
                    ]
                    paced = [
                        paid_event(b, sequence + events_count + i)
                        for i, b in enumerate(jobs[events_count:])
                    ]
                    shift = number % len(configs)  # each configuration leads in turn
                    for config in configs[shift:] + configs[:shift]:
                        if config == "floor":
                            line = measure_floor(
                                floor.port, events, paced, args.rate, figures[config]
                            )
                        else:
                            tree = args.baseline_tree if config == "baseline" else ROOT
                            line = measure_service(
                                config, databases, events, paced, args, log, tree, figures[config]
                            )
                        print(f"round {number + 1}  {config:8} {line}", flush=True)
        finally:
            databases.drop_all()
    report(args, configs, figures, events_count, paced_count, rounds)


def report(
    args: argparse.Namespace,
    configs: list[str],
    figures: dict[str, Figures],
    events_count: int,
    paced_count: int,
    rounds: int,
) -> None:
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}, "
        f"load average {' '.join(load)}"
    )
    print(
        f"database: {args.database}; per round: {events_count - 50} first deliveries (after 50 "
        f"warm-up), {events_count} duplicates, {paced_count} paced at {args.rate:.0f}/s; "
        f"{CONNECTIONS} connections; rounds: {rounds}; "
        f"uvicorn --http {args.http} --loop {args.loop}, service workers: {args.workers}"
    )
    floor = figures["floor"]
    for name, pick in (("min", min), ("median", statistics.median)):
        line = f"{name:6}  floor first {pick(floor.first):7.1f}/s"
        for config in configs[1:]:
            f = figures[config]
            first, dup = pick(f.first), pick(f.duplicate)
            ratios_first = [a / b for a, b in zip(f.first, floor.first, strict=True)]
            ratios_dup = [a / b for a, b in zip(f.duplicate, floor.first, strict=True)]
            line += (
                f" | {config}: first {first:7.1f}/s (ratio {pick(ratios_first):.2f}), "
                f"duplicate {dup:7.1f}/s (ratio {pick(ratios_dup):.2f})"
            )
        print(line)
    for config in configs:
        if figures[config].outcomes:
            print(f"unexpected answers, {config}: {dict(figures[config].outcomes)}")
    for config in configs:
        p99 = [percentile(values, 0.99) for values in figures[config].latency]
        p50 = [percentile(values, 0.5) for values in figures[config].latency]
        print(
            f"latency at {args.rate:.0f}/s  {config:8} p50 min {min(p50):.1f} / median "
            f"{statistics.median(p50):.1f} ms, p99 min {min(p99):.1f} / median "
            f"{statistics.median(p99):.1f} ms, "
            f"max {max(max(v) for v in figures[config].latency):.1f} ms"
        )


if __name__ == "__main__":
    main()
