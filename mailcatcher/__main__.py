"""`python -m mailcatcher --dir FOLDER [--host 127.0.0.1] [--port 1025]`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from mailcatcher.catcher import MailCatcher


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mailcatcher",
        description="An SMTP server that keeps every message it receives as an .eml file.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="where the .eml files go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args(argv)

    catcher = MailCatcher(args.dir, args.host, args.port).start()
    print(f"Mail catcher listening on {catcher.url}, keeping messages in {args.dir}", flush=True)
    stopped = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    stopped.wait()
    catcher.stop()


if __name__ == "__main__":
    main()
