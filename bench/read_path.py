"""Benchmark: the read path at scale, today's code against the code before migration 0005.

    .venv/bin/python -m bench.read_path [--full] [--only lists,aggregates] [--rounds 5]

Data comes from `bench.generate` (same seed, so the same rows every run), into databases of
the benchmark's own: SQLite files under --data-dir and, when --postgres-url's server answers,
PostgreSQL databases named after it and the number of jobs (`bench_read_path_20000`, ...).
A database that already holds that many jobs at the newest migration is reused
(--regenerate to rebuild it). The test suite's databases (`test`, `test_*`) are refused.

- lists: `core.jobs.queries.list_jobs` (the dashboard's job tables) for a set of filters,
  pages and actors, and the API's payment history (`payment_history`, first and next page;
  unchanged code, so no "before"), on both databases; default 20,000 jobs, --full 100,000.
- aggregates: a provider's earnings page (`summary`, `by_month`, `by_category`,
  `last_days`, as the dashboard calls them, and `earnings.overview`), every payments report
  and receivables aging, on PostgreSQL and SQLite; default 100,000 payments, --full
  1,000,000 (PostgreSQL; SQLite stays at 100,000).

Every item runs the current code, the same call as it was before (`bench.read_path_before`),
and a baseline, in alternating rounds (each leads in turn); it prints min and median over the
rounds, the ratios to the baseline and to the code before, and checks that the current code
and the code before return identical results. Baselines:

- lists: the first page of the unfiltered table as the page query alone (no count), with
  the current invoice joined per job, as the issue measured it.
- earnings: `by_month` alone, as before.
- payments reports: a plain scan of the same rows,
  `SELECT count(*), sum(amount) FROM payments JOIN jobs ...` with the report's filter.
- aging: the same plain scan of its rows (unpaid completed jobs) for the summary and for
  what the Reports page reads (the summary and the oldest 500 jobs), and, for the detail
  with every row, those rows' ids and amounts fetched through the same driver.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench import read_path_before as before
from bench.generate import BULK_TABLES, generate, index_names
from core.billing.invoice_copies import current_invoice_of_job
from core.config import PROJECT_ROOT
from core.db.migrate import alembic_config
from core.db.models import Customer, Job, Payment, Service, ServiceProvider, StripeInvoice
from core.db.session import make_engine, make_read_session_factory
from core.identity.actor import SYSTEM, Actor
from core.jobs.queries import JobFilter, list_jobs
from core.reporting import aging, earnings, reports
from core.reporting.payment_history import HistoryFilter, payment_history

ADMIN = Actor("admin")
FINANCE = Actor("finance")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_read_path"
SMALL = {"lists": 20_000, "aggregates": 100_000}
FULL = {"lists": 100_000, "aggregates": 1_000_000}
SQLITE_AGGREGATES_MAX = 100_000


@dataclass
class Item:
    """One benchmark line: the current code, the code before, and the baseline."""

    group: str
    name: str
    current: Callable[[Session], Any]
    old: Callable[[Session], Any] | None
    baseline: Callable[[Session], Any] | None


@dataclass
class Result:
    item: Item
    current: list[float]
    old: list[float]
    baseline: list[float]
    identical: bool | None


def ms(values: list[float]) -> str:
    return f"{min(values) * 1000:.1f} / {statistics.median(values) * 1000:.1f}"


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return "-"
    return f"{min(a) / min(b):.2f} / {statistics.median(a) / statistics.median(b):.2f}"


def run_item(readers: sessionmaker[Session], item: Item, rounds: int) -> Result:
    runs: dict[str, Callable[[Session], Any]] = {"current": item.current}
    if item.old is not None:
        runs["old"] = item.old
    if item.baseline is not None:
        runs["baseline"] = item.baseline
    times: dict[str, list[float]] = {name: [] for name in runs}
    answers: dict[str, Any] = {}
    names = list(runs)
    for number in range(rounds):
        shift = number % len(names)  # each configuration leads in turn
        for name in names[shift:] + names[:shift]:
            with readers() as session:
                started = time.perf_counter()
                answer = runs[name](session)
                times[name].append(time.perf_counter() - started)
            answers.setdefault(name, answer)
    identical = answers["current"] == answers["old"] if "old" in answers else None
    return Result(
        item, times["current"], times.get("old", []), times.get("baseline", []), identical
    )


def report_line(result: Result) -> str:
    item = result.item
    check = {True: "same", False: "DIFFERENT", None: "-"}[result.identical]
    return (
        f"| {item.name} | {ms(result.current)} | {ms(result.old) if result.old else '-'} "
        f"| {ratio(result.current, result.old)} "
        f"| {ms(result.baseline) if result.baseline else '-'} "
        f"| {ratio(result.current, result.baseline)} | {check} |"
    )


HEADER = (
    "| item | current min / median ms | before | current/before | baseline | "
    "current/baseline | results |\n| --- | --- | --- | --- | --- | --- | --- |"
)


# --------------------------------------------------------------------------------------
# Databases


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def holds(url: str, jobs: int) -> bool:
    """The database exists, is at the newest migration, holds exactly `jobs` jobs and has
    every index (a load that stopped before building them does not count)."""
    wanted = {index.name for table in BULK_TABLES for index in table.indexes}
    try:
        engine = make_engine(url)
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            count = connection.scalar(select(func.count()).select_from(Job))
            indexes = index_names(connection)
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError:
        return False
    return revision == head_revision() and count == jobs and wanted <= indexes


def ensure(url: str, jobs: int, regenerate: bool) -> str:
    if regenerate or not holds(url, jobs):
        print(f"generating {jobs:,} jobs into {safe(url)} ...", file=sys.stderr, flush=True)
        generate(url, jobs=jobs, replace=True, log=lambda *a, **k: None)
    return url


def safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def postgres_reachable(url: str) -> bool:
    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    try:
        engine = make_engine(server)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except sqlalchemy.exc.SQLAlchemyError:
        return False


def postgres_database(url: str, suffix: str) -> str:
    parsed = make_url(url)
    name = f"{parsed.database}_{suffix}"
    if name == "test" or name.startswith("test_"):
        raise SystemExit("refusing a test suite's database name")
    return parsed.set(database=name).render_as_string(hide_password=False)


# --------------------------------------------------------------------------------------
# Lists


def first_page_alone(session: Session) -> Any:
    """The issue's yardstick: page 1 of the unfiltered table, the page query alone, with
    the current invoice joined per job (no count)."""
    invoice = StripeInvoice
    return session.execute(
        select(
            Job,
            Customer.name,
            ServiceProvider.name,
            Service.name,
            Service.category,
            Payment.status,
            invoice.invoice_id,
            invoice.status,
            invoice.due_date,
            invoice.hosted_invoice_url,
            invoice.invoice_pdf,
        )
        .join(Customer, Customer.id == Job.customer_id)
        .join(ServiceProvider, ServiceProvider.id == Job.provider_id)
        .join(Service, Service.id == Job.service_id)
        .join(Payment, Payment.job_id == Job.id)
        .outerjoin(invoice, current_invoice_of_job())
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(25)
    ).all()


def list_items(engine: Engine, now: datetime) -> list[Item]:
    with engine.connect() as connection:
        total = connection.scalar(select(func.count()).select_from(Job)) or 0
        by_size = (
            connection.execute(
                select(Job.provider_id)
                .group_by(Job.provider_id)
                .order_by(func.count().desc(), Job.provider_id)
            )
            .scalars()
            .all()
        )
        big, smallest = by_size[0], by_size[-1]
        some_job = connection.scalar(select(Job.id).order_by(Job.id).offset(total // 3).limit(1))
    last = max(1, -(-total // 25))
    month_ago = (now - timedelta(days=40)).date()
    ten_days = (now - timedelta(days=10)).date()
    provider = Actor("provider", big)
    cases: list[tuple[str, Actor, JobFilter, int]] = [
        ("all, page 1", ADMIN, JobFilter(), 1),
        ("all, middle page", ADMIN, JobFilter(), last // 2),
        ("all, last page", ADMIN, JobFilter(), last),
        ("status completed", ADMIN, JobFilter(statuses=("completed",)), 1),
        ("status new + completed, page 3", ADMIN, JobFilter(statuses=("new", "completed")), 3),
        ("status paid + completed, page 1000", ADMIN, JobFilter(("paid", "completed")), 1000),
        ("provider filter (smallest)", ADMIN, JobFilter(provider_id=smallest), 1),
        ("provider's own jobs (largest)", provider, JobFilter(), 1),
        ("provider's own, last page", provider, JobFilter(), 10_000),
        ("provider's own, paid, page 5", provider, JobFilter(statuses=("paid",)), 5),
        (
            "created between (30 days)",
            ADMIN,
            JobFilter(created_from=month_ago, created_to=ten_days),
            2,
        ),
        ("overdue only", ADMIN, JobFilter(overdue_only=True), 1),
        ("overdue only, last page", ADMIN, JobFilter(overdue_only=True), 10_000),
        ("overdue + provider", ADMIN, JobFilter(overdue_only=True, provider_id=big), 1),
        ("search customer name", ADMIN, JobFilter(search="kowal"), 1),
        ("search customer name, last page", ADMIN, JobFilter(search="kowal"), 10_000),
        ("search one letter", ADMIN, JobFilter(search="a"), 1),
        ("search job number", ADMIN, JobFilter(search=str(some_job)), 1),
        ("search #number", ADMIN, JobFilter(search=f"#{some_job}"), 1),
        ("search, no match", ADMIN, JobFilter(search="zzqx"), 1),
        (
            "provider's own, search + paid",
            provider,
            JobFilter(search="nguyen", statuses=("paid",)),
            1,
        ),
        ("one job (job_id)", ADMIN, JobFilter(job_id=some_job), 1),
    ]
    items = []
    for name, actor, filters, page in cases:

        def current(
            session: Session, a: Actor = actor, f: JobFilter = filters, p: int = page
        ) -> Any:
            return list_jobs(session, actor=a, filters=f, page=p, now=now)

        def old(session: Session, a: Actor = actor, f: JobFilter = filters, p: int = page) -> Any:
            return before.list_jobs(session, actor=a, filters=f, page=p, now=now)

        items.append(Item("lists", name, current, old, first_page_alone))
    history: list[tuple[str, Actor, HistoryFilter]] = [
        ("payment history, all (first + next page)", ADMIN, HistoryFilter()),
        ("payment history, pending", ADMIN, HistoryFilter(status="pending")),
        ("payment history, provider's own", provider, HistoryFilter()),
    ]
    for name, actor, wanted in history:

        def pages(session: Session, a: Actor = actor, f: HistoryFilter = wanted) -> Any:
            first = payment_history(session, actor=a, filters=f)
            return first, payment_history(session, actor=a, filters=f, cursor=first.next_cursor)

        items.append(Item("lists", name, pages, None, first_page_alone))
    return items


# --------------------------------------------------------------------------------------
# Aggregates


def plain_scan(start: date, end: date, basis: str) -> Callable[[Session], Any]:
    def scan(session: Session) -> Any:
        when = Payment.marked_at if basis == "paid" else Job.completed_at
        return session.execute(
            select(func.count(), func.sum(Payment.amount))
            .select_from(Payment)
            .join(Job, Job.id == Payment.job_id)
            .where(
                Payment.status == "received",
                when >= datetime.combine(start, datetime.min.time(), UTC),
                when < datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC),
            )
        ).one()

    return scan


def aging_scan(session: Session) -> Any:
    return session.execute(
        select(func.count(), func.sum(Payment.amount))
        .select_from(Job)
        .join(Payment, Payment.job_id == Job.id)
        .where(Job.status == "completed", Payment.status == "pending")
    ).one()


def aging_fetch(session: Session) -> Any:
    return (
        session.connection()
        .execute(
            select(Job.id, Payment.amount)
            .join(Payment, Payment.job_id == Job.id)
            .where(Job.status == "completed", Payment.status == "pending")
        )
        .all()
    )


def earnings_four(module: Any, provider_id: int, now: datetime) -> Callable[[Session], Any]:
    """The four calls of the dashboard's earnings page (dashboard/components/reads.py)."""

    def page(session: Session) -> Any:
        return (
            module.summary(session, provider_id=provider_id, actor=SYSTEM),
            module.by_month(session, provider_id=provider_id, actor=SYSTEM, now=now),
            module.by_category(session, provider_id=provider_id, actor=SYSTEM),
            module.last_days(session, provider_id=provider_id, actor=SYSTEM, now=now),
        )

    return page


def aggregate_items(engine: Engine, now: datetime) -> list[Item]:
    with engine.connect() as connection:
        provider_id = connection.scalar(
            select(Job.provider_id)
            .group_by(Job.provider_id)
            .order_by(func.count().desc(), Job.provider_id)
        )
    assert provider_id is not None
    today = now.date()
    start = today.replace(day=1) - timedelta(days=365)  # the Reports page's default range

    def by_month_alone(session: Session) -> Any:
        return before.by_month(session, provider_id=provider_id, actor=SYSTEM, now=now)

    def overview(session: Session) -> Any:
        o = earnings.overview(session, provider_id=provider_id, actor=SYSTEM, now=now)
        return (o.summary, o.by_month, o.by_category, o.last_days)

    items = [
        Item(
            "earnings",
            "earnings page: the four calls",
            earnings_four(earnings, provider_id, now),
            earnings_four(before, provider_id, now),
            by_month_alone,
        ),
        Item(
            "earnings",
            "earnings page: overview()",
            overview,
            earnings_four(before, provider_id, now),
            by_month_alone,
        ),
    ]
    for basis in ("paid", "completed"):
        for grouping in reports.GROUPINGS:
            if basis == "completed" and grouping in ("provider", "category"):
                continue

            def current(session: Session, g: Any = grouping, b: Any = basis) -> Any:
                return reports.payments_received(
                    session, actor=FINANCE, start=start, end=today, group_by=g, basis=b
                )

            def old(session: Session, g: Any = grouping, b: Any = basis) -> Any:
                return before.payments_received(
                    session, actor=FINANCE, start=start, end=today, group_by=g, basis=b
                )

            items.append(
                Item(
                    "reports",
                    f"payments by {grouping} ({basis})",
                    current,
                    old,
                    plain_scan(start, today, basis),
                )
            )

    def aging_summary(session: Session) -> Any:
        return aging.aging_summary(session, actor=FINANCE, now=now)

    def aging_summary_before(session: Session) -> Any:
        return before.receivables_aging(session, actor=FINANCE, now=now)[0]

    def aging_page(session: Session) -> Any:
        # What the Reports page reads: the summary and the oldest 500 unpaid jobs.
        return aging_summary(session), aging.aging_details(
            session, actor=FINANCE, now=now, limit=500
        )

    def aging_page_before(session: Session) -> Any:
        summary, details = before.receivables_aging(session, actor=FINANCE, now=now)
        return summary, details[:500]

    def aging_every_row(session: Session) -> Any:
        return aging.receivables_aging(session, actor=FINANCE, now=now)

    def aging_every_row_before(session: Session) -> Any:
        return before.receivables_aging(session, actor=FINANCE, now=now)

    items.append(
        Item(
            "reports",
            "receivables aging summary (vs scan)",
            aging_summary,
            aging_summary_before,
            aging_scan,
        )
    )
    items.append(
        Item(
            "reports",
            "Reports page's aging: summary + oldest 500 (vs scan)",
            aging_page,
            aging_page_before,
            aging_scan,
        )
    )
    items.append(
        Item(
            "reports",
            "aging with every row (vs fetching its rows)",
            aging_every_row,
            aging_every_row_before,
            aging_fetch,
        )
    )
    return items


# --------------------------------------------------------------------------------------
# EXPLAIN


def explain(url: str, calls: list[tuple[str, Callable[[Session], Any]]]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement each call sends (PostgreSQL), with the
    parameters it sent them with."""
    engine = make_engine(url)
    readers = make_read_session_factory(engine)
    sent: list[tuple[str, Any]] = []

    @sqlalchemy.event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    for title, call in calls:
        sent.clear()
        with readers() as session:
            call(session)
        statements = list(sent)
        for number, (statement, parameters) in enumerate(statements, start=1):
            if statement.split("FROM", 1)[-1].split()[0] == "service_providers":
                continue  # the provider's row, by primary key
            with engine.connect() as connection:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                connection.rollback()
            print(f"\n#### {title}, statement {number} of {len(statements)}\n")
            print("```\n" + statement.strip() + "\n\n" + plan + "\n```", flush=True)
    engine.dispose()


def explain_calls(engine_url: str) -> list[tuple[str, Callable[[Session], Any]]]:
    engine = make_engine(engine_url)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        provider_id = connection.scalar(
            select(Job.provider_id)
            .group_by(Job.provider_id)
            .order_by(func.count().desc(), Job.provider_id)
        )
    engine.dispose()
    assert provider_id is not None
    today = now.date()
    start = today.replace(day=1) - timedelta(days=365)
    return [
        ("list_jobs, all jobs, page 1", lambda s: list_jobs(s, actor=ADMIN, now=now)),
        (
            "list_jobs, overdue only",
            lambda s: list_jobs(s, actor=ADMIN, filters=JobFilter(overdue_only=True), now=now),
        ),
        (
            "list_jobs, customer name search",
            lambda s: list_jobs(s, actor=ADMIN, filters=JobFilter(search="kowal"), now=now),
        ),
        (
            "earnings.overview",
            lambda s: earnings.overview(s, provider_id=provider_id, actor=SYSTEM, now=now),
        ),
        (
            "payments by month (paid)",
            lambda s: reports.payments_received(
                s, actor=FINANCE, start=start, end=today, group_by="month"
            ),
        ),
        ("plain scan of the same rows", plain_scan(start, today, "paid")),
        ("receivables aging", lambda s: aging.aging_summary(s, actor=FINANCE, now=now)),
    ]


# --------------------------------------------------------------------------------------


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )


def server_version(engine: Engine) -> str:
    if engine.dialect.name != "postgresql":
        return f"SQLite {sqlite3.sqlite_version}"
    with engine.connect() as connection:
        return str(connection.scalar(text("SHOW server_version"))).split()[0]


def run_group(
    label: str, url: str, items: Callable[[Engine, datetime], list[Item]], rounds: int
) -> bool:
    engine = make_engine(url)
    readers = make_read_session_factory(engine)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        jobs = connection.scalar(select(func.count()).select_from(Job)) or 0
    print(f"\n### {label}: {engine.dialect.name} {server_version(engine)}, {jobs:,} jobs")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; {rounds} rounds\n")
    print(HEADER, flush=True)
    ok = True
    for item in items(engine, now):
        result = run_item(readers, item, rounds)
        ok &= result.identical is not False
        print(report_line(result), flush=True)
    engine.dispose()
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes (100k / 1M)")
    parser.add_argument("--only", default="lists,aggregates", help="lists, aggregates")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "data" / "bench")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--explain", metavar="URL", help="print EXPLAIN (ANALYZE, BUFFERS) of the key queries"
    )
    args = parser.parse_args(argv)
    if args.explain:
        explain(args.explain, explain_calls(args.explain))
        return
    if args.rounds < 3:
        parser.error("at least 3 rounds")
    sizes = FULL if args.full else SMALL
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    postgres = not args.no_postgres and postgres_reachable(args.postgres_url)
    if not args.no_postgres and not postgres:
        print(
            f"PostgreSQL at {safe(args.postgres_url)} does not answer: SQLite only", file=sys.stderr
        )
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ok = True
    ready: set[str] = set()
    for group, make_items in (("lists", list_items), ("aggregates", aggregate_items)):
        if group not in wanted:
            continue
        size = sizes[group]
        targets: list[tuple[str, str]] = []
        if not args.no_sqlite:
            lite = min(size, SQLITE_AGGREGATES_MAX)
            path = args.data_dir / f"read_path_{lite}.db"
            targets.append((f"sqlite:///{path}", f"{group}, SQLite"))
        if postgres:
            targets.append(
                (postgres_database(args.postgres_url, f"{size}"), f"{group}, PostgreSQL")
            )
        for url, label in targets:
            jobs = size if url.startswith("postgresql") else min(size, SQLITE_AGGREGATES_MAX)
            if url not in ready:
                ensure(url, jobs, args.regenerate)
                ready.add(url)
            ok &= run_group(label, url, make_items, args.rounds)
    if not ok:
        raise SystemExit("the current code and the code before returned different results")


if __name__ == "__main__":
    main()
