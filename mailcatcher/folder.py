"""Reading a catcher's folder back: each .eml file's sender, recipients, subject, date and
plain text, newest first."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

# A folder of a long demo can hold thousands; a page shows the latest.
NEWEST = 200


@dataclass(frozen=True)
class CaughtMessage:
    file: str
    subject: str
    to: str
    sender: str
    date: str  # in UTC when it can be read, else as the message says it
    text: str  # the plain-text part; an HTML-only message says so


def _date(header: str) -> str:
    """In UTC, so that the messages' dates compare at a glance ("-0000" means UTC too)."""
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return header
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_message(path: Path) -> CaughtMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else "(this message has no plain-text part)"
    return CaughtMessage(
        file=path.name,
        subject=" ".join(str(parsed.get("Subject", "")).split()),
        to=str(parsed.get("To", "")),
        sender=str(parsed.get("From", "")),
        date=_date(str(parsed.get("Date", ""))),
        text=text.replace("\r\n", "\n"),
    )


def caught_messages(folder: Path, newest: int = NEWEST) -> list[CaughtMessage]:
    """The newest messages first (the catcher names files so that they sort by time)."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), reverse=True)[:newest]
    return [read_message(path) for path in files]
