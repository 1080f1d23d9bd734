"""Benchmark: the health reading (`core.observability.health.read_health`, what /readyz,
the database gauges and the overview's e-mail tile read) on a large database, against a
floor read side by side.

The database holds N e-mail messages (98 % sent, the rest queued, failed or not
configured), N audit entries (invoice sends, one drift check, the oldest), 10,000 webhook
events and 2,000 open invoice copies: a marketplace a few years in, on SQLite and, when
--postgres-url's server answers, PostgreSQL. The floor is `SELECT 1` plus the open-invoice
count, the part of the reading that reads few rows. Items alternate within each round;
min and median over the rounds, and each item's ratio to the floor.

    .venv/bin/python -m bench.health_reads [--rows 1000000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench.generate import replace_database
from bench.read_path import machine, postgres_reachable, safe, server_version
from core.db.migrate import upgrade
from core.db.models import StripeInvoice
from core.db.session import make_engine, make_read_session_factory, session_scope
from core.observability.health import read_health

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_health"
EVENTS = 10_000
OPEN_INVOICES = 2_000

# Rows made by the database itself from a series 1..N (no round trip a row).
_SERIES = {
    "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) ",
    "postgresql": "WITH s(i) AS (SELECT generate_series(1, :n)) ",
}
_NOW = {"sqlite": "CURRENT_TIMESTAMP", "postgresql": "now() AT TIME ZONE 'UTC'"}


def fill(url: str, rows: int) -> None:
    replace_database(url)
    upgrade(url)
    engine = make_engine(url)
    dialect = engine.dialect.name
    series, now = _SERIES[dialect], _NOW[dialect]
    status = (
        "CASE WHEN i % 100 = 1 THEN 'queued' WHEN i % 100 = 2 THEN 'failed'"
        " WHEN i % 200 = 3 THEN 'not_configured' ELSE 'sent' END"
    )
    statements = [
        (
            "INSERT INTO email_outbox (message_key, kind, to_address, status, attempts,"
            f" next_attempt_at, created_at) {series}SELECT 'bench:' || i, 'payment_received',"
            f" 'someone@example.com', {status}, 1, {now}, {now} FROM s",
            rows,
        ),
        (
            "INSERT INTO audit_log (created_at, actor, action, job_id, result)"
            f" {series}SELECT {now}, 'system', CASE WHEN i = 1 THEN 'drift.check'"
            " ELSE 'invoice.send' END, i, 'ok' FROM s",
            rows,
        ),
        (
            "INSERT INTO stripe_events (event_id, type, created, received_at, outcome)"
            f" {series}SELECT 'evt_' || i, 'invoice.paid', {now}, {now}, 'applied' FROM s",
            EVENTS,
        ),
        (
            "INSERT INTO stripe_invoices (invoice_id, customer, status, status_rank, currency,"
            " amount_due, amount_paid, amount_remaining, created, updated_at, is_current)"
            f" {series}SELECT 'in_' || i, 'cus_bench', 'open', 1, 'usd', 100, 0, 100, {now},"
            f" {now}, true FROM s",
            OPEN_INVOICES,
        ),
    ]
    with engine.begin() as connection:
        for statement, count in statements:
            connection.execute(text(statement), {"n": count})
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def floor(session: Session) -> Any:
    session.execute(text("SELECT 1"))
    return session.scalar(
        select(func.count())
        .select_from(StripeInvoice)
        .where(StripeInvoice.is_current, StripeInvoice.status == "open")
    )


def timed(readers: Any, call: Callable[[Session], Any]) -> float:
    started = time.perf_counter()
    with session_scope(readers) as session:
        call(session)
    return (time.perf_counter() - started) * 1000


def run(url: str, label: str, rounds: int) -> None:
    engine = make_engine(url)
    readers = make_read_session_factory(engine)
    items: dict[str, Callable[[Session], Any]] = {"floor": floor, "read_health": read_health}
    times: dict[str, list[float]] = {name: [] for name in items}
    for call in items.values():  # warm the caches once
        timed(readers, call)
    names = list(items)
    for number in range(rounds):
        for name in names[number % 2 :] + names[: number % 2]:  # each leads in turn
            times[name].append(timed(readers, items[name]))
    print(f"{label} ({server_version(engine)}):")
    for name, values in times.items():
        low, middle = min(values), statistics.median(values)
        base_low, base_middle = min(times["floor"]), statistics.median(times["floor"])
        print(
            f"  {name:12s} {low:8.1f} / {middle:8.1f} ms"
            f"   {low / base_low:6.1f} / {middle / base_middle:6.1f}x the floor"
        )
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args(argv)
    print(machine())
    print(f"{args.rows:,} e-mail messages and audit entries, {EVENTS:,} events")
    with tempfile.TemporaryDirectory() as folder:
        targets = [(f"sqlite:///{Path(folder) / 'health.db'}", "SQLite")]
        if postgres_reachable(args.postgres_url):
            targets.append((args.postgres_url, "PostgreSQL"))
        else:
            print(f"PostgreSQL at {safe(args.postgres_url)} does not answer: SQLite only")
        for url, label in targets:
            started = time.perf_counter()
            fill(url, args.rows)
            print(f"{label}: filled in {time.perf_counter() - started:.0f} s")
            run(url, label, args.rounds)


if __name__ == "__main__":
    main()
