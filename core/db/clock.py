"""How far the application's clock runs ahead of real time: not at all, except in a demo.

A demo on the Stripe sandbox has one clock for Stripe and for us: the sandbox keeps its
offset from real time in a small JSON file (`python -m stripe_sandbox --clock-file`), and
every process of the run names that file in `DEMO_CLOCK_FILE`. Moving the sandbox's clock
forward (`make advance-clock`) then moves ours with it, so invoices fall due, and become
overdue, as days pass on that clock. Without the variable the clock is real time.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

CLOCK_FILE_VARIABLE = "DEMO_CLOCK_FILE"
_NO_OFFSET = timedelta(0)
# The file's identity when last read, and the offset it held: re-read only when it changes.
_last: tuple[tuple[str, int, int, int], timedelta] | None = None


def clock_offset() -> timedelta:
    """The demo clock's lead over real time; zero without a demo clock (or an unreadable one)."""
    global _last
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path:
        return _NO_OFFSET
    try:
        stat = os.stat(path)
    except OSError:
        return _NO_OFFSET
    seen = (path, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if _last is not None and _last[0] == seen:
        return _last[1]
    try:
        with open(path, encoding="utf-8") as file:
            offset = timedelta(seconds=int(json.load(file)["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return _NO_OFFSET
    _last = (seen, offset)
    return offset


def forget() -> None:
    """Read the file again next time: for a process that has just moved the clock itself
    (file times are coarser than a few quick moves)."""
    global _last
    _last = None
