"""What each outbox message says: its subject, plain-text body and HTML body.

`render_message` is what the delivery worker calls for a claimed row; the wording comes
from the notification the message was queued for.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.db.models import EmailMessage, Notification


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_message(session: Session, message: EmailMessage) -> RenderedEmail:
    """The e-mail for an outbox row, rendered when it is sent (so links are current)."""
    note = session.get(Notification, message.notification_id) if message.notification_id else None
    if note is None:
        raise LookupError(f"outbox message {message.id} names no notification")
    return RenderedEmail(note.title, note.body, f"<p>{html.escape(note.body)}</p>")
