"""Opaque cursors for keyset paging over (created_at, id), newest first.

A cursor names the last row of a page; the next page is the rows before it in that order,
so rows added or changed meanwhile neither repeat nor get skipped. It is the pair as JSON
in URL-safe base64: opaque to callers, and refused with a clear error when it is not one
we gave out.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from core.errors import InvalidInput


def encode_cursor(created_at: datetime, row_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    refused = InvalidInput("the cursor is not one this API gave out")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded))
        moment, number = datetime.fromisoformat(created), int(row_id)
    except (ValueError, TypeError, OverflowError):
        raise refused from None
    if moment.tzinfo is None or not 0 < number < 2**31:
        raise refused
    return moment, number
