"""`python -m stripe_sandbox [--host 127.0.0.1] [--port 12111] [--data FILE] [--smtp URL] ...`."""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

import uvicorn

from stripe_sandbox.sandbox import Sandbox, SandboxConfig
from stripe_sandbox.server import create_app
from stripe_sandbox.store import Store
from stripe_sandbox.webhooks import Chaos


def _schedule(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None
    if any(delay < 0 for delay in delays):
        raise argparse.ArgumentTypeError("retry delays cannot be negative")
    return delays


def _chaos(text: str) -> Chaos:
    try:
        return Chaos.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sandbox",
        description="A local, stateful server that speaks Stripe's API for invoicing.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--fd",
        type=int,
        help="serve on this inherited, listening socket instead of binding --host and --port "
        "(whoever starts the sandbox picks the port and holds it, so nothing can take it)",
    )
    parser.add_argument("--data", type=Path, help="keep state in this JSON file across restarts")
    parser.add_argument(
        "--clock-file",
        type=Path,
        help='publish the clock\'s offset from real time here ({"offset": seconds}) whenever '
        "it moves, for processes that keep the sandbox's time (DEMO_CLOCK_FILE)",
    )
    parser.add_argument(
        "--public-url", help="base of hosted invoice links (default http://HOST:PORT)"
    )
    parser.add_argument("--account-name", default="Home Services Marketplace")
    parser.add_argument(
        "--chaos", type=_chaos, default=Chaos(), help="e.g. duplicate=0.3,reorder=0.2,seed=7"
    )
    parser.add_argument(
        "--retry-schedule",
        type=_schedule,
        default=(1.0, 5.0, 30.0, 120.0, 600.0),
        help="seconds before each webhook retry, comma-separated (default 1,5,30,120,600)",
    )
    parser.add_argument("--webhook-timeout", type=float, default=10.0)
    parser.add_argument(
        "--search-lag",
        type=float,
        default=0.0,
        help="seconds before new objects show up in search (Stripe: up to 60)",
    )
    parser.add_argument(
        "--smtp",
        default=os.environ.get("SANDBOX_SMTP_URL") or None,
        help="send the e-mails Stripe sends in live mode (invoice, receipt) to this server, "
        "smtp://HOST:PORT (default $SANDBOX_SMTP_URL; none: no e-mail, as in test mode)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    # The socket as it is (family and all, so that answers go out without Nagle's delay);
    # links and messages name its address.
    listening = socket.socket(fileno=args.fd) if args.fd is not None else None
    if listening is not None:
        args.host, args.port = listening.getsockname()[:2]
    config = SandboxConfig(
        public_url=args.public_url or f"http://{args.host}:{args.port}",
        account_name=args.account_name,
        search_lag=args.search_lag,
        retry_schedule=args.retry_schedule,
        webhook_timeout=args.webhook_timeout,
        chaos=args.chaos,
        clock_file=args.clock_file,
        smtp_url=args.smtp,
    )
    sandbox = Sandbox(config, Store(args.data))
    print(f"Stripe sandbox listening on http://{args.host}:{args.port}", flush=True)
    print(
        f'  StripeClient("sk_test_...", base_addresses={{"api": "http://{args.host}:{args.port}"}})',
        flush=True,
    )
    app = create_app(sandbox)
    if listening is None:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
        return
    serving = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False
    )
    uvicorn.Server(serving).run(sockets=[listening])


if __name__ == "__main__":
    main()
