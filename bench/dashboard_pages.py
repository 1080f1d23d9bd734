"""Benchmark: every dashboard page rendered under Streamlit's AppTest, cold and warm.

    .venv/bin/python -m bench.dashboard_pages [--rounds 3] [--database-url URL]
    .venv/bin/python -m bench.dashboard_pages --memory --database-url URL   # e.g. 100k jobs

By default the demo marketplace (core.seed, 200 jobs) is loaded into a fresh SQLite file;
--database-url runs against a database that already has the demo sign-ins (the demo, or
`bench.generate`'s marketplace). Each role signs in once (dashboard/streamlit_app.py, as
tests/integration/dashboard/conftest.py does), then every page it has is rendered:

- cold: Streamlit's data cache cleared first, so every read of the page goes to the
  database (the engine and its pool stay: in a running dashboard they outlive a session);
- warm: the same page run again, its reads served from the cache (what every click on a
  page does within the cache's ttl).

The baseline is the sign-in page of the same app, signed out, run the same way (the app's
shell with no read): what AppTest and the app's navigation cost on this machine at this
moment.
Configurations alternate round by round (each leads in turn); min and median per page.

--memory also prints the process's peak resident set size after all pages of all roles,
run in a fresh process so that nothing else has touched its memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

APP_FILE = Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py"
ROLES: dict[str, tuple[str, str, list[str]]] = {
    "provider": (
        "maria@riveraplumbing.example",
        "provider-demo",
        ["provider_home.py", "my_jobs.py", "earnings.py", "notifications.py"],
    ),
    "admin": (
        "admin@marketplace.example",
        "admin-demo-pass",
        [
            "overview.py",
            "all_jobs.py",
            "webhook_activity.py",
            "reconciliation.py",
            "outbox.py",
            "email_preview.py",
        ],
    ),
    "finance": ("finance@marketplace.example", "finance-demo-pass", ["overview.py", "reports.py"]),
}


def environment(database_url: str) -> None:
    """What the dashboard reads from the environment (as the dashboard tests set it)."""
    os.environ.update(
        {
            "STREAMLIT_LOGGER_LEVEL": "error",  # not "missing ScriptRunContext" per run
            "DATABASE_URL": database_url,
            # The pages measured never call Stripe; nothing listens here.
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "STRIPE_SECRET_KEY": "sk_test_bench_dashboard",
            "APP_SECRET_KEY": "bench-dashboard-secret-0123456789abcdef",
            "CURRENCY": "usd",
            "INVOICE_DAYS_UNTIL_DUE": "7",
        }
    )


def demo_database(directory: Path) -> str:
    os.environ["PASSWORD_HASH_PROFILE"] = "fast"  # the demo's sign-ins, hashed cheaply
    from core.db.migrate import upgrade
    from core.db.session import make_engine, make_session_factory, session_scope
    from core.seed import seed_demo

    url = f"sqlite:///{directory / 'demo.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        seed_demo(session)
    engine.dispose()
    return url


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def check(at: object) -> None:
    exceptions = getattr(at, "exception", [])
    if exceptions:
        raise SystemExit(f"the page raised: {[e.value for e in exceptions]}")


def new_app() -> object:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP_FILE), default_timeout=300)


def signed_in(email: str, password: str) -> object:
    at = new_app()
    at.run()  # type: ignore[attr-defined]
    at.text_input(key="sign_in_email").input(email)  # type: ignore[attr-defined]
    at.text_input(key="sign_in_password").input(password)  # type: ignore[attr-defined]
    at.form_submit_button[0].click()  # type: ignore[attr-defined]
    at.run()  # type: ignore[attr-defined]
    check(at)
    if any("Job to paid" in t.value for t in at.title):  # type: ignore[attr-defined]
        raise SystemExit(f"could not sign in as {email}")
    return at


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    """{page: {"cold": [...], "warm": [...]}} plus {"sign-in page (baseline)": ...}."""
    import streamlit as st

    apps = {role: signed_in(email, password) for role, (email, password, _) in ROLES.items()}
    runs: list[tuple[str, Callable[[], tuple[float, float]]]] = []

    signed_out = new_app()

    def baseline() -> tuple[float, float]:
        st.cache_data.clear()
        cold = timed(lambda: signed_out.run())  # type: ignore[attr-defined]
        check(signed_out)
        warm = timed(lambda: signed_out.run())  # type: ignore[attr-defined]
        return cold, warm

    runs.append(("sign-in page (baseline)", baseline))
    for role, (_, _, pages) in ROLES.items():
        at = apps[role]
        for page in pages:

            def render(at: object = at, page: str = page) -> tuple[float, float]:
                st.cache_data.clear()
                cold = timed(lambda: at.switch_page(f"app_pages/{page}").run())  # type: ignore[attr-defined]
                check(at)
                warm = timed(lambda: at.run())  # type: ignore[attr-defined]
                check(at)
                return cold, warm

            runs.append((f"{role}: {page}", render))
    for _, run in runs:  # once untimed: imports, the engine, Streamlit's own caches
        run()
    times: dict[str, dict[str, list[float]]] = {name: {"cold": [], "warm": []} for name, _ in runs}
    for number in range(rounds):
        shift = number % len(runs)
        for name, run in runs[shift:] + runs[:shift]:
            cold, warm = run()
            times[name]["cold"].append(cold)
            times[name]["warm"].append(warm)
    return times


def ms(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f} / {statistics.median(values) * 1000:.0f}"


def table(times: dict[str, dict[str, list[float]]]) -> str:
    base = times["sign-in page (baseline)"]
    lines = [
        "| page | cold min / median ms | ratio to baseline | warm min / median ms | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, runs in times.items():
        cold_ratio = min(runs["cold"]) / min(base["cold"])
        warm_ratio = min(runs["warm"]) / min(base["warm"])
        lines.append(
            f"| {name} | {ms(runs['cold'])} | {cold_ratio:.2f} | {ms(runs['warm'])} "
            f"| {warm_ratio:.2f} |"
        )
    return "\n".join(lines)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="default: the demo in a fresh SQLite file")
    parser.add_argument("--memory", action="store_true", help="peak RSS, in a fresh process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("at least 3 rounds")
    if args.memory and not args.child:
        command = [sys.executable, "-m", "bench.dashboard_pages", "--child", "--memory"]
        command += ["--rounds", str(args.rounds)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        raise SystemExit(subprocess.call(command))
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or demo_database(Path(directory))
        environment(url)
        from core.db.session import make_engine

        engine = make_engine(url)
        from sqlalchemy import func, select

        from core.db.models import Job

        with engine.connect() as connection:
            jobs = connection.scalar(select(func.count()).select_from(Job))
        engine.dispose()
        load = os.getloadavg()
        print(
            f"\n### Dashboard pages: {engine.dialect.name}, {jobs:,} jobs; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {args.rounds} rounds\n"
        )
        times = measure(args.rounds)
        print(table(times))
        if args.memory:
            print(f"\npeak RSS after every page of every role: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
