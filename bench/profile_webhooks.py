"""Profile webhook intake in one thread: `core.billing.webhooks.receive` on signed
`invoice.paid` events, first deliveries then duplicates, on the database bench.webhooks
builds, with the statements each event runs counted.

    .venv/bin/python -m bench.profile_webhooks --database sqlite|postgresql [--events 1000]
        [--phase first|duplicate] [--profiler pyinstrument|cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import event

from bench.webhooks import SECRET, Databases, paid_event, populate
from core.billing.webhooks import receive
from core.config import Settings
from core.context import AppContext
from stripe_sandbox.webhooks import sign


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--phase", choices=["first", "duplicate"], default="first")
    parser.add_argument("--profiler", choices=["pyinstrument", "cprofile"], default="pyinstrument")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-webhooks-") as temporary:
        databases = Databases(args.database, Path(temporary))
        jobs = populate(databases.template_url(), args.events)
        url = databases.fresh()
        try:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=url,
                stripe_secret_key=SecretStr("sk_test_bench"),
                stripe_webhook_secret=SecretStr(SECRET),
            )
            context = AppContext.create(settings)
            statements: Counter[str] = Counter()

            @event.listens_for(context.engine, "before_cursor_execute")
            def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
                statements[statement.split(None, 1)[0].upper()] += 1

            payloads = [paid_event(b, i) for i, b in enumerate(jobs)]
            stamp = int(time.time())
            signed = [(p.encode(), sign(p, SECRET, stamp)) for p in payloads]
            if args.phase == "duplicate":
                for body, signature in signed:
                    receive(context.sessions, body, signature, secret=SECRET, currency="usd")
            statements.clear()
            outcomes: Counter[str] = Counter()

            def work() -> None:
                for body, signature in signed:
                    delivery = receive(
                        context.sessions, body, signature, secret=SECRET, currency="usd"
                    )
                    outcomes[str(delivery.body.get("outcome"))] += 1

            started = time.perf_counter()
            if args.profiler == "pyinstrument":
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
                work()
                profiler.stop()
                elapsed = time.perf_counter() - started
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            else:
                profile = cProfile.Profile()
                profile.enable()
                work()
                profile.disable()
                elapsed = time.perf_counter() - started
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
            context.close()
        finally:
            databases.drop_all()
    total = sum(statements.values())
    print(f"{args.database} {args.phase}: {dict(outcomes)}")
    print(
        f"{elapsed / len(signed) * 1000:.2f} ms an event (under the profiler), "
        f"{total / len(signed):.1f} statements an event: "
        + ", ".join(f"{k} {v / len(signed):.1f}" for k, v in statements.most_common())
    )


if __name__ == "__main__":
    main()
