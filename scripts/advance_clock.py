"""`make advance-clock DAYS=7`: move the demo's clock forward, for Stripe and for us alike.

The Stripe sandbox that `make run` started keeps the demo's clock and publishes it to the
run's other processes (core.db.clock), so after this the dashboard, the API and the CLI
all see the later date: invoices fall due, open ones past their due date are overdue, the
aging moves them along, and a job completed now is invoiced from that date. The clock only
moves forward, as a Stripe test clock does; `SANDBOX_PORT` names a moved run's sandbox.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import httpx

DEFAULT_SANDBOX_PORT = 12111


def advance(sandbox_url: str, seconds: int) -> datetime:
    """Move the sandbox's clock forward; returns the demo's time after the move."""
    answer = httpx.post(f"{sandbox_url}/_sandbox/clock", json={"seconds": seconds}, timeout=10)
    answer.raise_for_status()
    return datetime.fromtimestamp(int(answer.json()["now"]), UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="make advance-clock", description="Move the demo's clock forward."
    )
    parser.add_argument("--days", type=float, default=7, help="how far (default 7)")
    args = parser.parse_args(argv)
    if args.days <= 0:
        parser.error("--days must be more than 0: the clock only moves forward")
    port = os.environ.get("SANDBOX_PORT") or str(DEFAULT_SANDBOX_PORT)
    url = f"http://127.0.0.1:{port}"
    try:
        now = advance(url, round(args.days * 86400))
    except httpx.HTTPError as error:
        raise SystemExit(
            f"No Stripe sandbox answered at {url} ({error}); is `make run` up?"
        ) from None
    print(f"The demo's clock now reads {now:%A %B %d, %Y %H:%M} UTC.")


if __name__ == "__main__":
    main()
