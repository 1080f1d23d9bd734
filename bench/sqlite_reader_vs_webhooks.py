"""Benchmark: webhook intake on SQLite while a dashboard reader loops over the job list.

One thread verifies and applies N signed `invoice.paid` events through
`core.billing.webhooks.process_event` (the webhook endpoint's work, one write transaction
each); another loops `core.jobs.queries.list_jobs` (the admin's job table, 25 rows a page)
through the reader sessions. Runs without and with the reader alternate, side by side, each
on a fresh copy of the same database; the figures are events/s and their ratio.

`--before` adds a third configuration to each round: the same reader on the writing
sessions, as every read was before the reader factory (BEGIN IMMEDIATE for reads too), so
the two threads take turns at the write lock. Reads/s are shown beside events/s, since
under one lock whichever loop is tighter starves the other.

    .venv/bin/python -m bench.sqlite_reader_vs_webhooks [--events 300] [--rounds 3] [--before]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy
from pydantic import SecretStr
from sqlalchemy import select, update

from core.billing.customers import remember_stripe_customer
from core.billing.stripe_gateway import API_VERSION, StripeGateway
from core.billing.stripe_objects import EventInfo
from core.billing.webhooks import WebhookProcessingFailed, process_event
from core.config import Settings
from core.context import AppContext
from core.db.migrate import upgrade
from core.db.models import Customer, Job, Payment, Service, ServiceProvider
from core.db.session import session_scope
from core.identity.actor import Actor
from core.jobs.lifecycle import create_job
from core.jobs.queries import list_jobs
from core.seed import seed_demo

SECRET = "whsec_bench"
STRIPE_CUSTOMER = "cus_bench"
ADMIN = Actor("admin")
PRICE = 15000


@dataclass
class Run:
    events_per_s: float
    reads_per_s: float
    failed: int
    outcomes: Counter[str]


# How each run reads beside the webhooks: not at all, through the reader sessions, or (the
# reads as they were before the reader factory) through the writing sessions.
CONFIGS = {"alone": "without reader", "readers": "with reader", "writers": "reads on writers"}


def build_template(
    directory: Path, events: int, demo_jobs: int
) -> tuple[Path, list[tuple[int, int]]]:
    """A migrated database with the demo marketplace plus `events` completed jobs awaiting
    payment; returns its path and those jobs' (job id, payment id)."""
    path = directory / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    context = AppContext.create(settings(url))
    try:
        with session_scope(context.sessions) as session:
            seed_demo(session, jobs=demo_jobs)
        with session_scope(context.sessions) as session:
            customer = Customer(name="Bench Customer", email="bench@example.com")
            provider = ServiceProvider(name="Bench Provider", email="bench-pro@example.com")
            service = Service(name="Bench", category="Home Repair", base_price=PRICE)
            session.add_all([customer, provider, service])
            session.flush()
            remember_stripe_customer(session, customer.id, STRIPE_CUSTOMER)  # as invoicing does
            ids = [
                create_job(
                    session,
                    customer_id=customer.id,
                    provider_id=provider.id,
                    service_id=service.id,
                    price=PRICE,
                ).id
                for _ in range(events)
            ]
            session.execute(update(Job).where(Job.id.in_(ids)).values(status="completed"))
            session.execute(update(Payment).where(Payment.job_id.in_(ids)).values(amount=PRICE))
            rows = session.execute(
                select(Payment.job_id, Payment.id).where(Payment.job_id.in_(ids))
            ).all()
            payments: dict[int, int] = dict(rows)
    finally:
        context.close()
    return path, [(job_id, payments[job_id]) for job_id in ids]


def settings(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        stripe_secret_key=SecretStr("sk_test_bench"),
        stripe_webhook_secret=SecretStr(SECRET),
    )


def signed_events(jobs: list[tuple[int, int]]) -> list[tuple[bytes, str]]:
    """(body, Stripe-Signature) for one `invoice.paid` per job, as Stripe would deliver."""
    now = int(time.time())
    deliveries = []
    for number, (job_id, payment_id) in enumerate(jobs):
        invoice = {
            "id": f"in_bench_{number}",
            "object": "invoice",
            "status": "paid",
            "customer": STRIPE_CUSTOMER,
            "currency": "usd",
            "amount_due": PRICE,
            "amount_paid": PRICE,
            "amount_remaining": 0,
            "created": now - 60,
            "metadata": {"job_id": str(job_id), "payment_id": str(payment_id)},
            "status_transitions": {"paid_at": now},
        }
        event = {
            "id": f"evt_bench_{number}",
            "object": "event",
            "type": "invoice.paid",
            "created": now,
            "api_version": API_VERSION,
            "data": {"object": invoice},
        }
        body = json.dumps(event).encode()
        digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
        deliveries.append((body, f"t={now},v1={digest}"))
    return deliveries


def run_once(
    template: Path, directory: Path, deliveries: list[tuple[bytes, str]], config: str
) -> Run:
    """Apply the deliveries on a fresh copy of the template, beside the reader `config` names."""
    path = directory / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    context = AppContext.create(settings(f"sqlite:///{path}"))
    stop, reading = threading.Event(), threading.Event()
    reads = 0

    def read_loop() -> None:
        nonlocal reads
        factory = context.readers if config == "readers" else context.sessions
        while not stop.is_set():
            with session_scope(factory) as session:
                list_jobs(session, actor=ADMIN, page=1, page_size=25)
            reads += 1
            reading.set()

    thread = None if config == "alone" else threading.Thread(target=read_loop)
    outcomes: Counter[str] = Counter()
    failed = 0
    try:
        if thread is not None:
            thread.start()
            reading.wait()
        first_read = reads
        started = time.perf_counter()
        for body, signature in deliveries:
            event: EventInfo = StripeGateway.verify_event(body, signature, SECRET)
            try:
                outcomes[process_event(context.sessions, event).outcome] += 1
            except WebhookProcessingFailed:
                failed += 1
        elapsed = time.perf_counter() - started
        read_during = reads - first_read
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        context.close()
    return Run(len(deliveries) / elapsed, read_during / elapsed, failed, outcomes)


def describe(run: Run) -> str:
    kinds = ", ".join(f"{n} {o}" for o, n in sorted(run.outcomes.items()))
    failed = f", {run.failed} failed" if run.failed else ""
    reads = f", {run.reads_per_s:.0f} reads/s" if run.reads_per_s else ""
    return f"{run.events_per_s:7.1f} events/s ({kinds}{failed}{reads})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo-jobs", type=int, default=200)
    parser.add_argument(
        "--before", action="store_true", help="also run the reader on the writing sessions"
    )
    args = parser.parse_args()
    configs = ["alone", "readers"] + (["writers"] if args.before else [])

    runs: dict[str, list[Run]] = {config: [] for config in configs}
    with tempfile.TemporaryDirectory(prefix="bench-reader-") as temporary:
        directory = Path(temporary)
        template, jobs = build_template(directory, args.events, args.demo_jobs)
        deliveries = signed_events(jobs)
        for number in range(args.rounds):
            shift = number % len(configs)  # each configuration leads in turn
            for config in configs[shift:] + configs[:shift]:
                run = run_once(template, directory, deliveries, config)
                runs[config].append(run)
                print(f"round {number + 1}  {CONFIGS[config]:16} {describe(run)}")

    print(
        f"date: {datetime.now(UTC):%Y-%m-%d}, machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}"
    )
    print(
        f"events: {args.events} per run, rounds: {args.rounds}, "
        f"jobs in the list: {args.demo_jobs} demo + {args.events}"
    )
    for name, pick in (("min", min), ("median", statistics.median)):
        alone = pick(r.events_per_s for r in runs["alone"])
        line = f"{name:6}  without reader {alone:7.1f} events/s"
        for config in configs[1:]:
            events = pick(r.events_per_s for r in runs[config])
            reads = pick(r.reads_per_s for r in runs[config])
            line += (
                f" | {CONFIGS[config]} {events:7.1f} events/s, ratio {events / alone:.2f}"
                f" ({reads:.0f} reads/s)"
            )
        print(line)


if __name__ == "__main__":
    main()
