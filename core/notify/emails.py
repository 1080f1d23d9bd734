"""What each outbox message says: its subject, plain-text body and HTML body.

`render_message` is what the delivery worker calls for a claimed row. The wording lives in
Jinja2 templates (core/notify/templates/: a base layout and, per kind, `<kind>.txt` whose
`subject` block is the subject line, and `<kind>.html`); the facts are read when the
message is sent (core.notify.email_facts), so its pay link and balance are current.
HTML templates autoescape, so text a customer, provider or Stripe wrote is never markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from core.db.models import EmailMessage
from core.money import format_cents
from core.notify.email_facts import GENERIC, EmailFacts, facts_for, one_line

# Each kind of notification that becomes an e-mail; any other kind gets the generic notice
# (GENERIC: the notification's own title and text), so a new kind is still delivered.
KINDS = (
    "invoice_sent",
    "payment_confirmed",
    "payment_failed",
    "payment_received",
    "reminder",
    "refund",
    "refund_recorded",
    "dispute_opened",
    "dispute_won",
    "dispute_lost",
)
SUBJECT_LIMIT = 200  # email_outbox.subject


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def long_date(day: date | None) -> str:
    return f"{day:%B} {day.day}, {day.year}" if day is not None else ""


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,  # a misspelt fact fails the tests, not a customer's e-mail
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["money"] = format_cents
    environment.filters["long_date"] = long_date
    return environment


_TEMPLATES = _environment()


def template_kind(kind: str) -> str:
    return kind if kind in KINDS else GENERIC


def subject_line(text: str) -> str:
    """One header line, at most SUBJECT_LIMIT characters."""
    line = one_line(text)
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 1].rstrip() + "…"


def render(kind: str, facts: EmailFacts) -> RenderedEmail:
    """The e-mail of this kind saying these facts."""
    name = template_kind(kind)
    context: dict[str, Any] = {"kind": kind, **facts.__dict__}
    text_template = _TEMPLATES.get_template(f"{name}.txt")
    subject = subject_line(
        "".join(text_template.blocks["subject"](text_template.new_context(context)))
    )
    context["subject"] = subject
    text = text_template.render(context)
    html = _TEMPLATES.get_template(f"{name}.html").render(context)
    return RenderedEmail(subject, text, html)


def render_message(session: Session, message: EmailMessage) -> RenderedEmail:
    """The e-mail for an outbox row, rendered when it is sent (so links are current)."""
    kind, facts = facts_for(session, message)
    return render(kind, facts)
