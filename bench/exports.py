"""Benchmark: streamed CSV and XLSX exports, each against its baseline, and the Reports
page's warm rerun.

Exports: a SQLite database of N received payments (50 providers, 5,000 customers, a year
of dates) is exported as the payments detail export (`core.reporting.export_sources`:
the query streamed with `yield_per`, dates worked out in SQL, written by
`core.reporting.exports`). Its baselines read the same query's rows the same way and
write them with nothing else: a plain `csv.writer` (CSV) or bare openpyxl write-only
`append` (XLSX). The writers alone are compared too, over rows already in a list (no
database), which isolates the cost of the conversions (money, dates, formula quoting).
Every run is a fresh subprocess; it reports wall and CPU seconds, and memory as the rise
of its resident set from just before the work to its peak during it (VmHWM, reset
first). `--before` adds the exports as they were (every row in a list; XLSX in openpyxl's
normal mode).

Page (`--page`): AppTest signs in as finance on a database of the demo plus N received
payments and 2,000 unpaid jobs, runs the Reports page once, then times warm reruns; the
same with the download sections left out (the page without downloads), and with every
file built on each run as the page did before (the report's and the aging's CSV and XLSX).

Configurations alternate within each round, each leading in turn; min and median over
the rounds, and their ratios.

    .venv/bin/python -m bench.exports [--rows 20000] [--rounds 3] [--page] [--before]
    .venv/bin/python -m bench.exports --full   # 100,000 rows; then CSV at 1,000,000
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy
import streamlit

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = 50
CUSTOMERS = 5_000
UNPAID = 2_000
PAGE_RERUNS = 8
FINANCE = ("finance", 0)  # the actor's id is filled in from the database

EXPORT_PAIRS = [
    ("CSV from the database", "csv-baseline", "csv-export"),
    ("XLSX from the database", "xlsx-baseline", "xlsx-export"),
    ("CSV writer alone", "csv-writer-baseline", "csv-writer-export"),
]
BEFORE = {"csv-export": "csv-before", "xlsx-export": "xlsx-before"}
PAGE_CONFIGS = ["page-without-downloads", "page", "page-every-file"]


# ---------------------------------------------------------------------------------------
# The database


def build_database(path: Path, rows: int, *, demo: bool) -> None:
    """A migrated SQLite database with `rows` received payments (and with `demo`, the demo
    marketplace and its accounts first, plus `UNPAID` completed jobs awaiting payment)."""
    from core.config import Settings
    from core.context import AppContext
    from core.db.migrate import upgrade
    from core.db.session import session_scope
    from core.seed import seed_demo

    url = f"sqlite:///{path}"
    upgrade(url)
    if demo:
        context = AppContext.create(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            with session_scope(context.sessions) as session:
                seed_demo(session)
        finally:
            context.close()
    rng = random.Random(2026)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    db = sqlite3.connect(path)
    try:
        base_provider = db.execute("SELECT coalesce(max(id), 0) FROM service_providers").fetchone()[
            0
        ]
        base_customer = db.execute("SELECT coalesce(max(id), 0) FROM customers").fetchone()[0]
        base_service = db.execute("SELECT coalesce(max(id), 0) FROM services").fetchone()[0]
        db.executemany(
            "INSERT INTO service_providers (id, name, email, earnings, total_jobs, created_at)"
            " VALUES (?, ?, ?, 0, 0, ?)",
            [
                (
                    base_provider + i,
                    f"Provider {i} Home Services",
                    f"p{i}@bench.example",
                    now.strftime(stamp),
                )
                for i in range(1, PROVIDERS + 1)
            ],
        )
        db.executemany(
            "INSERT INTO customers (id, name, email, created_at) VALUES (?, ?, ?, ?)",
            [
                (base_customer + i, _customer_name(i), f"c{i}@bench.example", now.strftime(stamp))
                for i in range(1, CUSTOMERS + 1)
            ],
        )
        categories = ["Home Repair", "Cleaning", "Outdoor", "Electrical", "Painting"]
        db.executemany(
            "INSERT INTO services (id, name, category, base_price) VALUES (?, ?, ?, ?)",
            [(base_service + i, f"Service {i}", c, 15000) for i, c in enumerate(categories, 1)],
        )
        next_job = db.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0] + 1
        prices = [4500, 9900, 12000, 15000, 17550, 22000, 35000, 125000]

        def jobs(count: int, paid: bool) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
            nonlocal next_job
            for _ in range(count):
                created = now - timedelta(minutes=rng.randint(10 * 24 * 60, 364 * 24 * 60))
                completed = created + timedelta(hours=rng.randint(2, 72))
                marked = completed + timedelta(hours=rng.randint(1, 200))
                price = rng.choice(prices)
                job = (
                    next_job,
                    base_service + rng.randint(1, len(categories)),
                    base_customer + rng.randint(1, CUSTOMERS),
                    base_provider + rng.randint(1, PROVIDERS),
                    price,
                    "paid" if paid else "completed",
                    created.strftime(stamp),
                    completed.strftime(stamp),
                    marked.strftime(stamp) if paid else None,
                )
                payment = (
                    next_job,
                    price,
                    "received" if paid else "pending",
                    "stripe" if paid else None,
                    marked.strftime(stamp) if paid else None,
                    created.strftime(stamp),
                )
                next_job += 1
                yield job, payment

        def insert(count: int, paid: bool) -> None:
            made = list(jobs(count, paid))
            db.executemany(
                "INSERT INTO jobs (id, service_id, customer_id, provider_id, price, status,"
                " created_at, completed_at, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [j for j, _ in made],
            )
            db.executemany(
                "INSERT INTO payments (job_id, amount, status, method, marked_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [p for _, p in made],
            )

        for chunk in range(0, rows, 100_000):
            insert(min(100_000, rows - chunk), paid=True)
        if demo:
            insert(UNPAID, paid=False)
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


def _customer_name(number: int) -> str:
    first = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jon"]
    last = ["Lee", "Okafor", "Novak", "Silva", "Brown", "Kowalski", "Nguyen", "Patel"]
    name = f"{first[number % len(first)]} {last[number % len(last)]} {number}"
    return "=" + name if number % 997 == 0 else name  # a few that read as formulas


# ---------------------------------------------------------------------------------------
# One measured run (in a subprocess of its own)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


@dataclass
class Measure:
    seconds: float
    cpu_seconds: float
    rss_rise_mib: float
    rows: int
    size: int

    def json(self) -> str:
        return json.dumps(self.__dict__)


def measure(work: Callable[[], tuple[int, int]]) -> Measure:
    """Time `work`, and the rise of the resident set from just before it to its peak
    during it (the kernel's peak, VmHWM, is reset first, so earlier peaks do not count)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak resident set size to the current one
    before = _status_kib("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    rows, size = work()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_kib("VmHWM")
    return Measure(seconds, cpu_seconds, max(peak - before, 0) / 1024, rows, size)


def child(config: str, database: Path, out: Path) -> Measure:
    from core.config import Settings
    from core.context import AppContext
    from core.db.session import session_scope
    from core.identity.actor import Actor
    from core.reporting import export_sources, exports
    from core.reporting.export_sources import DetailSpec

    context = AppContext.create(Settings(_env_file=None, database_url=f"sqlite:///{database}"))  # type: ignore[call-arg]
    actor = Actor("finance", 1)
    today = date.today()
    spec = DetailSpec("payments", today - timedelta(days=366), today)
    dialect = context.engine.dialect.name
    columns = spec.columns

    def query_rows(session: Any) -> Any:
        query = export_sources._payments_query(spec, dialect)
        options = {"yield_per": export_sources.STREAM_ROWS}
        return session.connection().execute(query, execution_options=options)

    def export(fmt: str) -> Callable[[], tuple[int, int]]:
        def work() -> tuple[int, int]:
            with session_scope(context.readers) as session, out.open("wb") as file:
                rows = export_sources.write(session, file, actor=actor, spec=spec, fmt=fmt)  # type: ignore[arg-type]
            return rows, out.stat().st_size

        return work

    def csv_baseline() -> tuple[int, int]:
        rows = 0
        with (
            session_scope(context.readers) as session,
            out.open("w", newline="", encoding="utf-8") as file,
        ):
            writer = csv.writer(file)
            writer.writerow([c.title for c in columns])
            for partition in query_rows(session).partitions():
                writer.writerows(partition)
                rows += len(partition)
        return rows, out.stat().st_size

    def xlsx_baseline() -> tuple[int, int]:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("Payments")
        rows = 0
        with session_scope(context.readers) as session:
            sheet.append([c.title for c in columns])
            for row in query_rows(session):
                sheet.append(tuple(row))
                rows += 1
        book.save(out)
        return rows, out.stat().st_size

    def prefetched() -> list[tuple[Any, ...]]:
        with session_scope(context.readers) as session:
            return [tuple(r) for r in query_rows(session)]

    def before(fmt: str) -> Callable[[], tuple[int, int]]:
        def work() -> tuple[int, int]:
            with session_scope(context.readers) as session:
                rows = [list(r) for r in query_rows(session)]  # as the page held them
            total = ["Total", "", "", "", "", "", "", sum(r[7] for r in rows)]
            data = (_old_to_csv if fmt == "csv" else _old_to_xlsx)(columns, rows, total)
            out.write_bytes(data)
            return len(rows), len(data)

        return work

    try:
        if config.startswith("csv-writer"):
            rows = prefetched()

            def writer_work() -> tuple[int, int]:
                if config == "csv-writer-baseline":
                    with out.open("w", newline="", encoding="utf-8") as file:
                        writer = csv.writer(file)
                        writer.writerow([c.title for c in columns])
                        writer.writerows(rows)
                else:
                    with out.open("wb") as file:
                        exports.write_csv(file, columns, rows, exports.Sums())
                return len(rows), out.stat().st_size

            return measure(writer_work)
        works = {
            "csv-baseline": csv_baseline,
            "csv-export": export("csv"),
            "xlsx-baseline": xlsx_baseline,
            "xlsx-export": export("xlsx"),
            "csv-before": before("csv"),
            "xlsx-before": before("xlsx"),
        }
        return measure(works[config])
    finally:
        context.close()


# The exports as they were before streaming (core/reporting/exports.py at 922af4e), for
# the record: every row in a list, XLSX in openpyxl's normal mode, formats cell by cell.
def _old_cell(value: Any, column: Any) -> Any:
    from core.reporting.exports import safe_text

    if column.money and isinstance(value, int):
        return Decimal(value) / 100
    if isinstance(value, str):
        return safe_text(value)
    return value


def _old_to_csv(columns: Any, rows: Any, total: Any) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.title for c in columns])
    for row in [*rows, total]:
        writer.writerow(
            [
                f"{_old_cell(v, c):.2f}" if c.money and isinstance(v, int) else _old_cell(v, c)
                for v, c in zip(row, columns, strict=True)
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def _old_to_xlsx(columns: Any, rows: Any, total: Any) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet: Any = book.active
    sheet.append([c.title for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="635BFF")
    for row in rows:
        sheet.append([_old_cell(v, c) for v, c in zip(row, columns, strict=True)])
    sheet.append([_old_cell(v, c) for v, c in zip(total, columns, strict=True)])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        width = max([len(column.title)] + [len(str(r[index - 1])) for r in rows[:200]])
        sheet.column_dimensions[letter].width = min(max(width + 2, 10), 50)
        if column.money:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = '"$"#,##0.00'
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def page_child(config: str, database: Path, export_dir: Path) -> dict[str, Any]:
    """Warm reruns of the Reports page in AppTest, signed in as the demo's finance user."""
    os.environ.update(
        DATABASE_URL=f"sqlite:///{database}",
        EXPORT_DIR=str(export_dir),
        PASSWORD_HASH_PROFILE="fast",
        APP_SECRET_KEY="bench-secret",
    )
    from streamlit.testing.v1 import AppTest

    from core.seed import DEMO_ACCOUNTS
    from dashboard.components import downloads

    if config == "page-without-downloads":
        downloads.report_downloads = lambda *a, **k: None
        downloads.detail_downloads = lambda *a, **k: None
    elif config == "page-every-file":
        # As the page was: the report's and the aging's CSV and XLSX built on every run.
        report_downloads, detail_downloads = downloads.report_downloads, downloads.detail_downloads

        def eager_report(columns: Any, rows: Any, total: Any, **kw: Any) -> None:
            from core.reporting import exports

            exports.to_csv(columns, rows, total)
            exports.to_xlsx(columns, rows, total)
            report_downloads(columns, rows, total, **kw)

        def eager_detail(actor: Any, spec: Any, rows: int, **kw: Any) -> None:
            from core.reporting import export_sources
            from dashboard.components.runtime import context

            if spec.kind == "aging":
                for fmt in ("csv", "xlsx"):
                    export_sources.build(context().readers, actor=actor, spec=spec, fmt=fmt)
            detail_downloads(actor, spec, rows, **kw)

        downloads.report_downloads = eager_report
        downloads.detail_downloads = eager_detail

    email, _, _, password = DEMO_ACCOUNTS[1]
    at = AppTest.from_file(str(ROOT / "dashboard" / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    at.form_submit_button[0].click()
    at.run()
    at.switch_page("app_pages/reports.py").run()  # finance lands on the Overview
    assert [t.value for t in at.title] == ["Reports"], [t.value for t in at.title]
    assert not at.exception, [e.value for e in at.exception]
    times = []
    for _ in range(PAGE_RERUNS):
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    assert not at.exception
    return {"min": min(times), "median": statistics.median(times)}


# ---------------------------------------------------------------------------------------
# The parent: rounds of subprocesses


def run_child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench child {args} failed:\n{result.stderr}")
    value: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def rounds(
    configs: list[str], count: int, run: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    for number in range(count):
        shift = number % len(configs)  # each configuration leads in turn
        for config in configs[shift:] + configs[:shift]:
            outcome = run(config)
            results[config].append(outcome)
            shown = " ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in outcome.items()
            )
            print(f"  round {number + 1}  {config:24} {shown}", flush=True)
    return results


def summary(results: dict[str, list[dict[str, Any]]], field: str) -> dict[str, tuple[float, float]]:
    return {
        c: (min(r[field] for r in runs), statistics.median(r[field] for r in runs))
        for c, runs in results.items()
    }


def exports_bench(rows: int, rounds_: int, before: bool, configs_only: list[str] | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as temporary:
        directory = Path(temporary)
        database = directory / "payments.db"
        started = time.perf_counter()
        build_database(database, rows, demo=False)
        print(f"{rows:,} received payments in {time.perf_counter() - started:.1f} s", flush=True)
        configs = [c for _, base, export in EXPORT_PAIRS for c in (base, export)]
        if configs_only:
            configs = [c for c in configs if c in configs_only]
        if before:
            configs += [BEFORE[c] for c in ("csv-export", "xlsx-export") if c in configs]
        results = rounds(
            configs,
            rounds_,
            lambda config: run_child(config, str(database), str(directory / f"{config}.out")),
        )
    print(f"\nrows: {rows:,}, rounds: {rounds_}")
    wall, cpu, memory = (summary(results, f) for f in ("seconds", "cpu_seconds", "rss_rise_mib"))
    for title, base, export in EXPORT_PAIRS:
        if base not in results or export not in results:
            continue
        print(f"{title}:")
        for label, figures in (("wall", wall), ("CPU", cpu)):
            (bmin, bmed), (emin, emed) = figures[base], figures[export]
            print(
                f"  {label:4} baseline min {bmin:.3f} / median {bmed:.3f} s; export min {emin:.3f}"
                f" / median {emed:.3f} s; ratio {emin / bmin:.2f} / {emed / bmed:.2f}"
            )
        print(
            f"  memory (RSS rise, median) baseline {memory[base][1]:.1f} MiB, export"
            f" {memory[export][1]:.1f} MiB; file {results[export][0]['size'] / 2**20:.1f} MiB"
        )
        if export in BEFORE and BEFORE[export] in results:
            old = BEFORE[export]
            print(
                f"  before (all rows in a list): wall min {wall[old][0]:.3f} / median"
                f" {wall[old][1]:.3f} s, RSS rise {memory[old][1]:.1f} MiB"
            )


def page_bench(rows: int, rounds_: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-page-") as temporary:
        directory = Path(temporary)
        database = directory / "app.db"
        os.environ["PASSWORD_HASH_PROFILE"] = "fast"
        build_database(database, rows, demo=True)
        print(f"demo + {rows:,} received payments + {UNPAID:,} unpaid jobs", flush=True)
        results = rounds(
            PAGE_CONFIGS,
            rounds_,
            lambda config: run_child(config, str(database), str(directory / "exports")),
        )
    figures = summary(results, "min"), summary(results, "median")
    print(f"\nReports page, warm rerun ({PAGE_RERUNS} reruns a run; min / median of runs' min):")
    base = figures[0]["page-without-downloads"]
    for config in PAGE_CONFIGS:
        low, middle = figures[0][config]
        print(
            f"  {config:24} {low:.3f} / {middle:.3f} s; ratio to the page without downloads"
            f" {low / base[0]:.2f} / {middle / base[1]:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="100,000 rows, then CSV at 1,000,000")
    parser.add_argument("--page", action="store_true", help="the Reports page's warm rerun")
    parser.add_argument("--before", action="store_true", help="also the exports as they were")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "DATABASE", "OUT"))
    args = parser.parse_args()
    if args.child:
        config, database, out = args.child
        if config.startswith("page"):
            print(json.dumps(page_child(config, Path(database), Path(out))))
        else:
            print(child(config, Path(database), Path(out)).json())
        return

    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, machine: {platform.machine()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()}, SQLite"
        f" {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, openpyxl"
        f" {openpyxl.__version__}, Streamlit {streamlit.__version__}"
    )
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    if args.full:
        exports_bench(100_000, args.rounds, args.before, None)
        exports_bench(1_000_000, args.rounds, False, ["csv-baseline", "csv-export"])
    else:
        exports_bench(args.rows, args.rounds, args.before, None)
    if args.page:
        page_bench(args.rows, args.rounds)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
