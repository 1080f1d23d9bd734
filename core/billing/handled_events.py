"""The ids of events this process has seen committed as handled, so that a duplicate
delivery is answered without touching the database.

Stripe delivers an event again after a timeout or a non-2xx answer, and at times twice
anyway; every copy after the first changes nothing. Answering those from memory spares the
database a write transaction (the claim's insert and the retry check), which on SQLite
would queue behind the single writer. A handled event stays handled (no code path clears
`handled_at`), so an id remembered here never needs a second look. The memory is per
database and bounded; an id it has forgotten, or one handled by another process, goes the
usual way and is found by its unique key.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from sqlalchemy.orm import Session, sessionmaker

REMEMBERED = 100_000  # ids kept per database: a few MiB, several hours at marketplace rates


class HandledEvents:
    def __init__(self, limit: int = REMEMBERED) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember an event whose handling has been committed."""
        with self._lock:
            self._ids[event_id] = None
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)


_MEMORY: weakref.WeakKeyDictionary[sessionmaker[Session], HandledEvents] = (
    weakref.WeakKeyDictionary()
)
_MEMORY_LOCK = threading.Lock()


def handled_events(sessions: sessionmaker[Session]) -> HandledEvents:
    """The memory for the database these sessions write to."""
    with _MEMORY_LOCK:
        memory = _MEMORY.get(sessions)
        if memory is None:
            memory = _MEMORY[sessions] = HandledEvents()
        return memory
